// The terminal's font size (src/fonts.js) without a browser. There is no canvas to measure a
// cell here, so fonts.js keeps its defaults (a cell 0.6 em wide, a line 1.18 em high), which is
// what fontFor is computed with below. baseFontSize reads localStorage and the pointer type:
// those get stand-ins.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_FONT, MIN_FONT, baseFontSize, fontFor, metrics } from '../../src/fonts.js';

const SCROLLBAR = 14;

test('without a canvas the cell metrics are the defaults', () => {
  assert.deepEqual(metrics(), { w: 0.6, h: 1.18 });
});

test('a wide screen gets the base size', () => {
  assert.equal(fontFor(1920, 80, 14), 14);
  assert.equal(fontFor(1200, 80, 14), 14);
  assert.equal(fontFor(1200, 80, 20), 20);
});

test('a narrow screen gets the largest half-pixel size that fits 80 columns', () => {
  // 600 px: (600 - 14 - 2) / (80 * 0.6) = 12.17 -> 12; 620 px: 12.58 -> 12.5.
  assert.equal(fontFor(600, 80, 14), 12);
  assert.equal(fontFor(620, 80, 14), 12.5);
  for (const width of [500, 600, 620, 700, 800, 900]) {
    const size = fontFor(width, 80, 14);
    assert.equal(size * 2, Math.round(size * 2), `${width}: a half-pixel step`);
    assert.ok(80 * size * 0.6 <= width - SCROLLBAR - 2, `${width}: 80 columns of ${size} px fit`);
    assert.ok(80 * (size + 0.5) * 0.6 > width - SCROLLBAR - 2 || size === 14, `${width}: ${size} is the largest`);
  }
});

test('never below 10 px (a phone scrolls sideways instead), unless the base is smaller', () => {
  assert.equal(fontFor(400, 80, 14), MIN_FONT);
  assert.equal(fontFor(100, 80, 14), MIN_FONT);
  assert.equal(fontFor(400, 80, 8), 8);
  assert.equal(fontFor(1200, 80, 8), 8);
});

test('more columns, smaller font', () => {
  assert.ok(fontFor(1000, 132, 14) < fontFor(1000, 80, 14));
  assert.equal(fontFor(1000, 132, 14), 12);
});

test('the base size: the stored size within limits, else 14 px (13 on a touch screen)', () => {
  const cases = [
    [null, false, 14],
    [null, true, 13],
    ['20', false, 20],
    [String(MAX_FONT), true, MAX_FONT],
    [String(MAX_FONT + 1), false, 14],
    [String(MIN_FONT - 2), false, MIN_FONT - 2],
    [String(MIN_FONT - 3), true, 13],
    ['abc', false, 14],
  ];
  for (const [stored, touch, want] of cases) {
    globalThis.localStorage = { getItem: (k) => (k === 'lanterm.fontSize' ? stored : null) };
    globalThis.window = { matchMedia: (q) => ({ matches: touch && q === '(pointer: coarse)' }) };
    assert.equal(baseFontSize(), want, `stored ${stored}, touch ${touch}`);
  }
});
