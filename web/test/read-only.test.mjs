// 6. A read-only page cannot type: what it "types" never reaches the session.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser } from './fixture.mjs';
import { newPage, waitConnected, waitForLine, until } from './browser.mjs';

const fx = serverAndBrowser();

test('?ro=1: typing sends nothing, output still arrives', { timeout: 60_000 }, async () => {
  const s = await fx.srv.api.create('cat');
  const { page, context } = await newPage(fx.browser, {}, 'ro');
  const sockets = [];
  const sent = [];
  page.on('websocket', (ws) => {
    sockets.push(ws.url());
    ws.on('framesent', (f) => sent.push(f.payload));
  });

  await page.goto(`${fx.srv.url}#/s/${s.id}?ro=1`);
  await waitConnected(page);
  assert.match((await page.textContent('#mode')) || '', /read-only/);
  assert.ok(sockets.length >= 1 && sockets.every((u) => /[?&]mode=ro(&|$)/.test(u)),
    `the attach should use mode=ro: ${JSON.stringify(sockets)}`);
  assert.equal(await page.locator('#keybar').isVisible(), false, 'the key bar is hidden when read-only');

  await page.click('#terminal');
  await page.keyboard.type('ABC');
  await page.keyboard.press('Enter');

  // A read-write client (REST) writes a marker afterwards: it shows the output path works.
  const marker = `MARK-${Math.floor(Math.random() * 1e9)}`;
  await fx.srv.api.input(s.id, `${marker}\r`);
  const out = await until(async () => {
    const t = await fx.srv.api.output(s.id, 'text');
    return t.includes(marker) && t;
  }, { message: () => `marker ${marker} not in the session's output` });
  await waitForLine(page, new RegExp(marker));

  assert.ok(!out.includes('ABC'), `ABC reached the session: output ${JSON.stringify(out)}`);
  const session = await fx.srv.api.get(s.id);
  assert.equal(session.status, 'running');

  // And on the wire: no keystrokes, no input messages, no resize from a read-only page.
  const binary = sent.filter((p) => typeof p !== 'string');
  const typed = sent.filter((p) => typeof p === 'string' && /"type"\s*:\s*"(input|resize)"/.test(p));
  assert.deepEqual(binary.map((b) => b.toString()), [], 'binary (keystroke) frames sent while read-only');
  assert.deepEqual(typed, [], 'input/resize messages sent while read-only');
  await context.close();
});
