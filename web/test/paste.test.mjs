// Pasted text cannot break out of the shell's bracketed paste: an `ESC [ 201 ~` inside pasted
// text would end the paste early and run what follows without Enter. Every paste path of the
// UI (the browser's paste event behind Ctrl+V / Ctrl+Shift+V, the menu's Paste, the paste
// dialog) strips ESC first. The session turns bracketed paste on and echoes what it receives
// with `cat -v`, so the bytes that reached the PTY are on the screen: `^[` is an ESC.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser } from './fixture.mjs';
import { newPage, waitConnected, waitForLine } from './browser.mjs';

const fx = serverAndBrowser();

// Bracketed paste on, then every line received is echoed with control characters visible.
const ECHO = `sh -c 'printf "\\033[?2004hready\\n"; exec cat -v'`;
const HOSTILE = (tag) => `${tag}-a\x1b[201~${tag}-b\x9b201~${tag}-c`;

async function open(tag, contextOptions = {}) {
  const s = await fx.srv.api.create(ECHO);
  const { page, context } = await newPage(fx.browser, contextOptions, tag);
  await page.goto(`${fx.srv.url}#/s/${s.id}`);
  await waitConnected(page);
  await waitForLine(page, /^ready$/);
  return { page, context };
}

// What `cat -v` shows for the pasted line: the paste's own brackets stay, the payload's ESC is gone.
async function assertClean(page, tag) {
  const line = await waitForLine(page, new RegExp(`${tag}-c`));
  assert.ok(line.includes(`${tag}-a[201~${tag}-b`), `payload ESC stripped: ${JSON.stringify(line)}`);
  assert.ok(!line.includes(`${tag}-a^[[201~`), `no ESC from the payload reached the PTY: ${JSON.stringify(line)}`);
  assert.ok(line.startsWith('^[[200~'), `xterm.js still brackets the paste: ${JSON.stringify(line)}`);
}

test('the browser paste event (Ctrl+V) is sanitised', { timeout: 60_000 }, async () => {
  const { page, context } = await open('key');
  await page.evaluate((text) => {
    const ta = document.querySelector('#terminal textarea');
    ta.focus();
    const data = new DataTransfer();
    data.setData('text/plain', text);
    ta.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, `${HOSTILE('key')}\n`);
  await assertClean(page, 'key');
  await context.close();
});

test("the menu's Paste is sanitised", { timeout: 60_000 }, async () => {
  const { page, context } = await open('menu');
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: fx.srv.origin });
  await page.evaluate((text) => navigator.clipboard.writeText(text), `${HOSTILE('menu')}\n`);
  await page.click('#terminal', { button: 'right' });
  await page.click('#menu [data-action="paste"]');
  await assertClean(page, 'menu');
  await context.close();
});

test('the paste dialog is sanitised', { timeout: 60_000 }, async () => {
  // No clipboard permission: the menu's Paste falls back to the dialog.
  const { page, context } = await open('dialog');
  await page.evaluate(() => {
    // a browser that refuses clipboard reads, whatever its permissions
    navigator.clipboard.readText = () => Promise.reject(new Error('denied'));
  });
  await page.click('#terminal', { button: 'right' });
  await page.click('#menu [data-action="paste"]');
  await page.waitForSelector('#paste-text', { state: 'visible' });
  await page.fill('#paste-text', `${HOSTILE('dialog')}\n`);
  await page.click('#paste-form [type="submit"]');
  await assertClean(page, 'dialog');
  await context.close();
});
