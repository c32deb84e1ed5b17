// 1. A session created from the UI runs and answers typing; 2. after a reload its history is back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launchBrowser, newPage, waitConnected, waitForLine, bufferLines, dump, WAIT_MS } from './browser.mjs';

let srv;
let browser;
let page;
let sessionId;
let helloLine;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  ({ page } = await newPage(browser, {}, 'create'));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('create a session from the UI, type into it, read the output back', { timeout: 60_000 }, async () => {
  await page.goto(srv.url);
  await page.waitForSelector('#sessions', { state: 'attached' });
  await page.click('#new-session');
  await page.waitForSelector('#create-form', { state: 'visible' });
  await page.fill('#f-command', 'bash --norc -i');
  await page.click('#f-submit');

  // On success the page goes to the new session's terminal view.
  const hash = await page.waitForFunction(
    () => /^#\/s\/[A-Za-z0-9_-]{17}$/.test(location.hash) && location.hash,
    null,
    { timeout: WAIT_MS },
  );
  sessionId = (await hash.jsonValue()).slice('#/s/'.length);
  const s = await srv.api.get(sessionId);
  assert.equal(s.command, 'bash --norc -i');
  assert.equal(s.status, 'running');

  await waitConnected(page);
  // bash's prompt (root: "bash-5.2#"), so the shell reads what we type.
  await waitForLine(page, /[#$]$/);

  await page.click('#terminal');
  await page.keyboard.type('echo hello-$RANDOM');
  await page.keyboard.press('Enter');

  // The output line is exactly "hello-N" (the echoed command line starts with the prompt).
  helloLine = await waitForLine(page, /^hello-\d+$/);
  const lines = await bufferLines(page);
  assert.ok(
    lines.some((l) => l.includes('echo hello-$RANDOM')),
    `the typed command should be echoed; ${dump(lines)}`,
  );
  console.log(`session ${sessionId}: read back "${helloLine}"`);
});

test('after a reload the history is there again', { timeout: 60_000 }, async () => {
  assert.ok(helloLine, 'needs the session of the previous test');
  await page.reload();
  await waitConnected(page);
  await waitForLine(page, new RegExp(`^${helloLine}$`));
  const lines = await bufferLines(page);
  const n = lines.filter((l) => l === helloLine).length;
  assert.equal(n, 1, `"${helloLine}" should be in the replayed history exactly once; ${dump(lines)}`);
  assert.equal(
    lines.filter((l) => l.includes('echo hello-$RANDOM')).length,
    1,
    `the command line should be replayed exactly once; ${dump(lines)}`,
  );
});
