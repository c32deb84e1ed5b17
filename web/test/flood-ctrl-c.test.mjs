// 7. During a `yes` flood the page still answers Ctrl-C within a second (flow control keeps the
// page from being buried under output it has not rendered).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser } from './fixture.mjs';
import { newPage, waitConnected, waitForLine, sleep } from './browser.mjs';

const fx = serverAndBrowser();

test('Ctrl-C during `yes` ends it within 1 s', { timeout: 60_000 }, async () => {
  const s = await fx.srv.api.create('yes');
  const { page, context } = await newPage(fx.browser, {}, 'flood');
  await page.goto(`${fx.srv.url}#/s/${s.id}`);
  await waitConnected(page);
  await waitForLine(page, /^y$/);
  await page.click('#terminal');

  // The scenario: let it flood for a while.
  await sleep(2000);

  const before = await fx.srv.api.get(s.id);
  const pageOffset = await page.evaluate(() => window.lanterm.offset());
  const t0 = performance.now();
  await page.keyboard.press('Control+c');
  const tPressed = performance.now() - t0;
  // Polled (nothing announces the end to this test), often: the time is what is measured.
  const ended = await fx.srv.api.waitEnded(s.id, { timeout: 15_000, interval: 20 }).catch(() => null);
  const elapsed = performance.now() - t0;
  console.log(
    `yes flood: Ctrl-C -> session ended after ${ended ? Math.round(elapsed) : '>15000'} ms ` +
    `(keyboard.press returned after ${Math.round(tPressed)} ms; server had ${before.output_bytes} bytes, ` +
    `page at offset ${pageOffset}, ${before.output_bytes - pageOffset} behind)`,
  );
  assert.ok(ended, `session still running 15 s after Ctrl-C: ${JSON.stringify(await fx.srv.api.get(s.id))}`);
  assert.ok(ended.exit_signal === 'INT' || ended.exit_code === 130, `ended by SIGINT: ${JSON.stringify(ended)}`);
  assert.ok(elapsed < 1000, `Ctrl-C took ${Math.round(elapsed)} ms to end the session (limit 1000 ms)`);
  await context.close();
});
