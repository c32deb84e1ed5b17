// 4. A session that exited shows its exit code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launchBrowser, newPage, waitForState, statusOf, waitForLine } from './browser.mjs';

let srv;
let browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('an ended session shows "exited with code 3"', { timeout: 60_000 }, async () => {
  const s = await srv.api.create('exit 3');
  const ended = await srv.api.waitEnded(s.id);
  assert.equal(ended.status, 'failed');
  assert.equal(ended.exit_code, 3);

  const { page, context } = await newPage(browser, {}, 'exit');
  await page.goto(`${srv.url}#/s/${s.id}`);
  await waitForState(page, 'exited');
  const text = (await page.textContent('#status')) || '';
  assert.match(text, /exited with code 3/, `#status text: ${await statusOf(page)}`);
  await context.close();
});

test('an ended session replays its output from the store', { timeout: 60_000 }, async () => {
  const s = await srv.api.create('echo bye-now; exit 3');
  await srv.api.waitEnded(s.id);
  const { page, context } = await newPage(browser, {}, 'exit-output');
  await page.goto(`${srv.url}#/s/${s.id}`);
  await waitForState(page, 'exited');
  await waitForLine(page, /^bye-now$/);
  assert.match((await page.textContent('#status')) || '', /exited with code 3/);
  await context.close();
});
