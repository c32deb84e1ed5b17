// 4. A session that exited shows its exit code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser } from './fixture.mjs';
import { newPage, waitForState, statusOf, waitForLine } from './browser.mjs';

const fx = serverAndBrowser();

test('an ended session shows "exited with code 3"', { timeout: 60_000 }, async () => {
  const s = await fx.srv.api.create('exit 3');
  const ended = await fx.srv.api.waitEnded(s.id);
  assert.equal(ended.status, 'failed');
  assert.equal(ended.exit_code, 3);

  const { page, context } = await newPage(fx.browser, {}, 'exit');
  await page.goto(`${fx.srv.url}#/s/${s.id}`);
  await waitForState(page, 'exited');
  const text = (await page.textContent('#status')) || '';
  assert.match(text, /exited with code 3/, `#status text: ${await statusOf(page)}`);
  await context.close();
});

test('an ended session replays its output from the store', { timeout: 60_000 }, async () => {
  const s = await fx.srv.api.create('echo bye-now; exit 3');
  await fx.srv.api.waitEnded(s.id);
  const { page, context } = await newPage(fx.browser, {}, 'exit-output');
  await page.goto(`${fx.srv.url}#/s/${s.id}`);
  await waitForState(page, 'exited');
  await waitForLine(page, /^bye-now$/);
  assert.match((await page.textContent('#status')) || '', /exited with code 3/);
  await context.close();
});
