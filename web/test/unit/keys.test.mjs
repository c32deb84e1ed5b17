// Keys (src/keys.js) without a browser: what the key bar's keys send, and the sticky Ctrl and
// Alt. The modifiers are armed by a tap on the key bar, so the key bar's element and its two
// modifier buttons get stand-ins with just what keys.js touches.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMods, keyData, resetMods, setupKeybar } from '../../src/keys.js';

function button() {
  const classes = new Set();
  const attrs = {};
  return {
    classList: { toggle: (c, on) => (on ? classes.add(c) : classes.delete(c)) },
    setAttribute: (k, v) => { attrs[k] = v; },
    active: () => classes.has('active'),
    attrs,
  };
}

const listeners = {};
const buttons = { ctrl: button(), alt: button() };
globalThis.document = {
  querySelector(sel) {
    if (sel === '#keybar') return { addEventListener: (type, fn) => { listeners[type] = fn; } };
    const m = /^#keybar \[data-key="(ctrl|alt)"\]$/.exec(sel);
    return m ? buttons[m[1]] : null;
  },
};
const sent = [];
setupKeybar(() => ({ sendKey: (k) => sent.push(k) }));

/** A tap on the key bar's button for `key`. */
function tap(key) {
  listeners.click({ target: { closest: () => ({ dataset: { key } }) }, preventDefault() {} });
}

test('arrows follow the cursor key mode: CSI normally, SS3 in application mode', () => {
  const want = { up: 'A', down: 'B', right: 'C', left: 'D' };
  for (const [key, letter] of Object.entries(want)) {
    assert.equal(keyData(key, false), `\x1b[${letter}`, key);
    assert.equal(keyData(key, true), `\x1bO${letter}`, key);
  }
});

test('Esc and Tab send their bytes; the other keys send themselves', () => {
  assert.equal(keyData('esc', false), '\x1b');
  assert.equal(keyData('tab', true), '\t');
  for (const key of ['|', '~', '/', '-']) assert.equal(keyData(key, false), key);
});

test('without an armed modifier a key passes unchanged', () => {
  for (const data of ['c', 'hello', '\x1b[A', '\r']) assert.equal(applyMods(data), data);
});

test('Ctrl applies to the next key only, and its button shows it until then', () => {
  tap('ctrl');
  assert.equal(buttons.ctrl.active(), true);
  assert.equal(buttons.ctrl.attrs['aria-pressed'], 'true');
  assert.equal(applyMods('c'), '\x03');
  assert.equal(buttons.ctrl.active(), false);
  assert.equal(buttons.ctrl.attrs['aria-pressed'], 'false');
  assert.equal(applyMods('c'), 'c');
});

test('Ctrl maps letters, @[\\]^_ and the usual punctuation to control characters', () => {
  const cases = [
    ['a', '\x01'], ['Z', '\x1a'], ['@', '\x00'], ['[', '\x1b'], ['\\', '\x1c'], [']', '\x1d'],
    ['^', '\x1e'], ['_', '\x1f'], [' ', '\x00'], ['?', '\x7f'], ['/', '\x1f'], ['-', '\x1f'],
    ['~', '\x1e'], ['|', '\x1c'], ['2', '\x00'], ['8', '\x7f'], ['1', '1'], ['cd', '\x03d'],
  ];
  for (const [key, want] of cases) {
    tap('ctrl');
    assert.equal(applyMods(key), want, JSON.stringify(key));
  }
});

test('Alt prefixes Esc; with Ctrl too, both apply', () => {
  tap('alt');
  assert.equal(applyMods('x'), '\x1bx');
  tap('ctrl');
  tap('alt');
  assert.equal(applyMods('c'), '\x1b\x03');
});

test('cursor and Home/End keys take the modifiers as a parameter, in either cursor mode', () => {
  tap('ctrl');
  assert.equal(applyMods('\x1b[A'), '\x1b[1;5A');
  tap('alt');
  assert.equal(applyMods('\x1bOD'), '\x1b[1;3D');
  tap('ctrl');
  tap('alt');
  assert.equal(applyMods('\x1b[H'), '\x1b[1;7H');
  tap('ctrl');
  assert.equal(applyMods(keyData('right', true)), '\x1b[1;5C');
});

test('a second tap disarms; leaving the terminal disarms both', () => {
  tap('ctrl');
  tap('ctrl');
  assert.equal(applyMods('c'), 'c');
  tap('ctrl');
  tap('alt');
  resetMods();
  assert.equal(buttons.ctrl.active() || buttons.alt.active(), false);
  assert.equal(applyMods('c'), 'c');
});

test('the other keys of the bar go to the terminal view', () => {
  sent.length = 0;
  for (const key of ['esc', 'tab', 'up', '|']) tap(key);
  assert.deepEqual(sent, ['esc', 'tab', 'up', '|']);
  assert.equal(applyMods('c'), 'c', 'no modifier was armed by them');
});
