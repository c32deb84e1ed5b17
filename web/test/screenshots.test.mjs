// 12. The pictures the README shows, taken from the real UI in Chromium: the session list on a
// laptop, a terminal running a full-screen program (`top`) on a laptop, and the terminal with
// its key bar on a phone (390 x 844). Each is checked for what a person would see before it is
// saved (docs/screenshots/ with UPDATE_SCREENSHOTS=1, else a scratch directory).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser } from './fixture.mjs';
import {
  newPage, waitConnected, screenLines, until, dump, saveScreenshot,
} from './browser.mjs';

const LAPTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const fx = serverAndBrowser();

/** The PNG's width and height, from its IHDR chunk. */
function pngSize(buf) {
  assert.equal(buf.subarray(1, 4).toString(), 'PNG', 'a PNG');
  return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

async function waitTop(page) {
  let lines = null;
  await until(async () => {
    lines = await screenLines(page);
    return lines && /^top - /.test(lines[0]) && lines.some((l) => /^\s*PID\s+USER\b/.test(l));
  }, { message: () => `a whole top screen; got ${dump(lines, 30)}` });
}

test('the session list on a laptop', { timeout: 60_000 }, async () => {
  await fx.srv.api.create('make -j4 2>&1 | tee build.log; exit 0', { name: 'build', cwd: '/tmp' });
  const failed = await fx.srv.api.create('exit 3', { name: 'tests', cwd: '/' });
  await fx.srv.api.create('top -d 1', { name: 'monitor', cwd: '/' });
  const { page, context } = await newPage(fx.browser, LAPTOP, 'list');
  try {
    await page.goto(fx.srv.url);
    await page.locator('.session[data-status=running]').first().waitFor();
    await page.locator(`.session[data-id="${failed.id}"][data-status=failed]`).waitFor();
    assert.match(await page.locator(`.session[data-id="${failed.id}"] .status`).innerText(), /failed \(3\)/);
    assert.ok((await page.locator('.session').count()) >= 3);
    const [w, h] = pngSize(await saveScreenshot(page, 'list'));
    assert.deepEqual([w, h], [1280, 800]);
  } finally {
    await context.close();
  }
});

test('a terminal running top on a laptop', { timeout: 60_000 }, async () => {
  const s = await fx.srv.api.create('top -d 1', { name: 'top', cwd: '/' });
  const { page, context } = await newPage(fx.browser, LAPTOP, 'top');
  try {
    await page.goto(`${fx.srv.url}#/s/${s.id}`);
    await waitConnected(page);
    await waitTop(page);
    pngSize(await saveScreenshot(page, 'terminal-top'));
  } finally {
    await context.close();
  }
});

test('the terminal and its key bar on a phone (390 x 844)', { timeout: 60_000 }, async () => {
  const s = await fx.srv.api.create('top -d 1', { name: 'top', cwd: '/' });
  const { page, context } = await newPage(fx.browser, PHONE, 'phone');
  try {
    await page.goto(`${fx.srv.url}#/s/${s.id}`);
    await waitConnected(page);
    await waitTop(page);
    assert.ok(await page.locator('#keybar').isVisible(), 'the key bar shows on a phone');
    const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scroll <= 390, `no sideways scrolling: ${scroll}`);
    const [w, h] = pngSize(await saveScreenshot(page, 'phone'));
    assert.deepEqual([w, h], [780, 1688]);
  } finally {
    await context.close();
  }
});
