// 5. On a phone, the key bar's sticky Ctrl followed by "c" sends Ctrl-C.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser } from './fixture.mjs';
import { newPage, waitConnected, WAIT_MS } from './browser.mjs';

const fx = serverAndBrowser();

const PHONE = {
  viewport: { width: 360, height: 740 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

test('phone key bar: Ctrl then c interrupts the session', { timeout: 60_000 }, async () => {
  const s = await fx.srv.api.create('sleep 100');
  const { page, context } = await newPage(fx.browser, PHONE, 'keybar');
  await page.goto(`${fx.srv.url}#/s/${s.id}`);
  await waitConnected(page);

  const ctrl = page.locator('#keybar [data-key=ctrl]');
  assert.ok(await page.locator('#keybar').isVisible(), '#keybar should be visible on a phone');
  await ctrl.waitFor({ state: 'visible' });

  // As a person would: tap the terminal (keyboard up), tap Ctrl, type c.
  await page.tap('#terminal');
  await ctrl.tap();
  await page.waitForSelector('#keybar [data-key=ctrl].active', { state: 'attached', timeout: WAIT_MS });
  await page.keyboard.type('c');

  let ended;
  try {
    ended = await fx.srv.api.waitEnded(s.id);
  } catch (e) {
    const diag = await page.evaluate(() => ({
      active: document.activeElement
        ? `${document.activeElement.tagName}.${document.activeElement.className}`
        : null,
      ctrlClass: document.querySelector('#keybar [data-key=ctrl]')?.className,
    }));
    throw new Error(`${e.message}\nfocus after Ctrl+c: ${JSON.stringify(diag)}`);
  }
  assert.ok(
    ended.exit_signal === 'INT' || ended.exit_code === 130,
    `expected an end by SIGINT (or code 130): ${JSON.stringify(ended)}`,
  );
  assert.equal(ended.status, 'failed');
  // The sticky modifier was used up by the key.
  assert.equal(await ctrl.evaluate((el) => el.classList.contains('active')), false, 'Ctrl should be released after one key');
  console.log(`ended: status ${ended.status}, exit_signal ${ended.exit_signal}, exit_code ${ended.exit_code}`);
  await context.close();
});
