// 8. After a reload during `top`, the screen is a whole, fresh `top` screen (the page asks for a
// redraw after the replay), the same as what a second, fresh page shows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser } from './fixture.mjs';
import {
  newPage, waitConnected, waitForLine, screenLines, dump, until, sleep,
} from './browser.mjs';

const fx = serverAndBrowser();

const KINDS = [
  ['top', /^top - /],
  ['tasks', /^Tasks:/],
  ['cpu', /^%Cpu/],
  ['mem', /^[KMGTPE]iB Mem\b/],
  ['pid', /^\s*PID\s+USER\b/],
];

/**
 * What a whole top screen looks like: `top -` on the first row, each structural line exactly
 * once, and no header text anywhere else. Returns {ok, why, rows: {kind: row}}.
 */
function analyze(lines) {
  if (!lines) return { ok: false, why: 'no terminal' };
  const rows = {};
  for (const [kind, re] of KINDS) {
    const at = lines.map((l, i) => (re.test(l) ? i : -1)).filter((i) => i >= 0);
    if (at.length !== 1) return { ok: false, why: `${kind} line found ${at.length} times (rows ${at})`, rows };
    rows[kind] = at[0];
  }
  if (rows.top !== 0) return { ok: false, why: `the "top -" header is on row ${rows.top}, not the first`, rows };
  for (const word of ['top - ', 'Tasks:', '%Cpu', 'PID USER']) {
    const n = lines.filter((l) => l.replace(/\s+/g, ' ').includes(word)).length;
    if (n !== 1) return { ok: false, why: `"${word}" appears on ${n} rows`, rows };
  }
  return { ok: true, rows };
}

async function waitWholeTopScreen(page, what) {
  let last = null;
  const t0 = Date.now();
  await until(async () => {
    last = await screenLines(page);
    return analyze(last).ok;
  }, { message: () => `${what}: ${analyze(last).why}; screen ${dump(last, 60)}` });
  return { lines: last, ms: Date.now() - t0 };
}

test('reload during `top -d 1` shows a whole top screen, like a fresh page', { timeout: 90_000 }, async () => {
  const s = await fx.srv.api.create('top -d 1');
  const a = await newPage(fx.browser, {}, 'top-a');
  // Counts {"type":"redraw"} messages the page sends (the listener survives reloads).
  let redraws = 0;
  a.page.on('websocket', (ws) => ws.on('framesent', (f) => {
    if (typeof f.payload === 'string' && /"type"\s*:\s*"redraw"/.test(f.payload)) redraws++;
  }));
  await a.page.goto(`${fx.srv.url}#/s/${s.id}`);
  await waitConnected(a.page);
  await waitForLine(a.page, /^top - /);
  await waitForLine(a.page, /^Tasks:/);
  await waitWholeTopScreen(a.page, 'before the reload');

  const redrawsBefore = redraws;
  await a.page.reload();
  await waitConnected(a.page);
  // After the replay the page asks the server for a repaint (docs/UI.md, Behaviour).
  await until(async () => redraws > redrawsBefore, {
    message: () => 'no {"type":"redraw"} sent after the reload',
  });
  const reloaded = await waitWholeTopScreen(a.page, 'after the reload');
  console.log(`after the reload (connected, redraw sent) a whole top screen was there within ${reloaded.ms} ms`);
  // Not a lucky frame: still whole a refresh later.
  await sleep(1500);
  const later = await waitWholeTopScreen(a.page, '1.5 s after the reload');
  const ra = analyze(later.lines);

  const b = await newPage(fx.browser, {}, 'top-b');
  await b.page.goto(`${fx.srv.url}#/s/${s.id}`);
  await waitConnected(b.page);
  const fresh = await waitWholeTopScreen(b.page, 'fresh page');
  const rb = analyze(fresh.lines);

  const size = (p) => p.evaluate(() => [window.lanterm.term.cols, window.lanterm.term.rows]);
  assert.deepEqual(await size(a.page), await size(b.page), 'both pages have the same terminal size');
  assert.deepEqual(
    ra.rows,
    rb.rows,
    `structural lines on the same rows in the reloaded and the fresh page\nreloaded ${dump(later.lines, 12)}\nfresh ${dump(fresh.lines, 12)}`,
  );
  // And, after a fresh page has attached (and asked for its own redraw), the reloaded one
  // is still a whole screen.
  const settled = await waitWholeTopScreen(a.page, 'reloaded page after the fresh page attached');
  assert.deepEqual(analyze(settled.lines).rows, rb.rows);
  await a.context.close();
  await b.context.close();
});
