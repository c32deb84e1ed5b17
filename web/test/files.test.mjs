// Files in and out of a session through the page: a file dropped on the terminal lands in the
// shell's directory (`ls` shows it), the link `lanterm get FILE` prints downloads the file when
// clicked, and an upload shows a progress bar whose Cancel leaves nothing behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverAndBrowser } from './fixture.mjs';
import { newPage, until, waitConnected, waitForLine } from './browser.mjs';
import { BIN } from './server.mjs';

const fx = serverAndBrowser();

// A shell session that has `cd`ed into a fresh directory, open in a new page.
async function shellIn(tag) {
  const dir = mkdtempSync(join(tmpdir(), `lanterm-files-${tag}-`));
  const s = await fx.srv.api.create(null);
  const { page, context } = await newPage(fx.browser, { acceptDownloads: true }, tag);
  await page.goto(`${fx.srv.url}#/s/${s.id}`);
  await waitConnected(page);
  await fx.srv.api.input(s.id, `cd ${dir} && echo in-${tag}\n`);
  await waitForLine(page, new RegExp(`^in-${tag}$`));
  return { dir, id: s.id, page, context };
}

test('a file dropped on the terminal lands in the shell directory', { timeout: 60_000 }, async () => {
  const { dir, id, page, context } = await shellIn('drop');
  const drop = (text) => page.evaluate((t) => {
    const data = new DataTransfer();
    data.items.add(new File([t], 'dropped.txt', { type: 'text/plain' }));
    const target = document.querySelector('#terminal .xterm-screen');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    }
  }, text);
  await drop('dropped bytes\n');
  await until(() => readdirSync(dir).includes('dropped.txt'), { message: () => 'the dropped file' });
  await fx.srv.api.input(id, 'ls\n');
  await waitForLine(page, /dropped\.txt/);
  assert.equal(readFileSync(join(dir, 'dropped.txt'), 'utf8'), 'dropped bytes\n');
  // The same name again: the page asks before replacing it.
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    d.accept();
  });
  await drop('second bytes\n');
  await until(() => readFileSync(join(dir, 'dropped.txt'), 'utf8') === 'second bytes\n', {
    message: () => 'the file replaced after the confirm',
  });
  assert.match(asked, /dropped\.txt exists/);
  await context.close();
});

test('the link lanterm get prints downloads the file when clicked', { timeout: 60_000 }, async () => {
  const { dir, id, page, context } = await shellIn('get');
  writeFileSync(join(dir, 'report.txt'), 'the report\n');
  await fx.srv.api.input(id, `${BIN} get report.txt\n`);
  const shown = `${dir}/report.txt`;
  await waitForLine(page, new RegExp(`^${shown.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
  // Where the link's first cell is on the screen.
  const at = await page.evaluate((text) => {
    const t = window.lanterm.term;
    const b = t.buffer.active;
    for (let y = b.viewportY; y < b.viewportY + t.rows; y++) {
      const l = b.getLine(y);
      if (l && l.translateToString(true).trimEnd() === text) {
        const r = document.querySelector('#terminal .xterm-screen').getBoundingClientRect();
        const w = r.width / t.cols;
        const h = r.height / t.rows;
        return { x: r.left + w * 2.5, y: r.top + h * (y - b.viewportY + 0.5) };
      }
    }
    return null;
  }, shown);
  assert.ok(at, 'the link is on the screen');
  await page.mouse.move(at.x, at.y);
  const downloading = page.waitForEvent('download');
  // xterm.js shows the link on hover; click until it took (its hover handling is asynchronous).
  let download = null;
  await until(async () => {
    await page.mouse.move(at.x + 1, at.y);
    await page.mouse.click(at.x, at.y);
    download = await Promise.race([downloading, new Promise((r) => setTimeout(() => r(null), 500))]);
    return download;
  }, { message: () => 'a download from the link' });
  assert.equal(download.suggestedFilename(), 'report.txt');
  assert.equal(readFileSync(await download.path(), 'utf8'), 'the report\n');
  await context.close();
});

test('an upload shows its progress and Cancel leaves no file', { timeout: 90_000 }, async () => {
  const { dir, page, context } = await shellIn('cancel');
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 256 * 1024,
  });
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File([new Uint8Array(32 << 20)], 'big.bin'));
    const input = document.querySelector('#upload-input');
    input.files = data.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await page.waitForSelector('#transfer', { state: 'visible' });
  await until(() => page.evaluate(() => document.querySelector('#transfer-progress').value > 0), {
    message: () => 'progress above 0',
  });
  await page.click('#transfer-cancel');
  await page.waitForSelector('#transfer', { state: 'hidden' });
  await until(() => readdirSync(dir).length === 0, { message: () => `left behind: ${readdirSync(dir)}` });
  await context.close();
});

test('a read-only view offers no transfer and ignores a drop', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lanterm-files-ro-'));
  const s = await fx.srv.api.create(null, { cwd: dir });
  const { page, context } = await newPage(fx.browser, {}, 'ro');
  await page.goto(`${fx.srv.url}#/s/${s.id}?ro=1`);
  await waitConnected(page);
  assert.equal(await page.isVisible('#upload-btn'), false);
  assert.equal(await page.isVisible('#fetch-btn'), false);
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(['x'], 'ro.txt'));
    const target = document.querySelector('#terminal .xterm-screen');
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  // A drop would have started an upload at once: its bar stays hidden, and nothing arrives.
  assert.equal(await page.isVisible('#transfer'), false);
  await fx.srv.api.input(s.id, 'echo ro-$((6*7))\n');
  await waitForLine(page, /^ro-42$/);
  assert.deepEqual(readdirSync(dir), []);
  await context.close();
});

test('a file pasted into the terminal is uploaded', { timeout: 60_000 }, async () => {
  const { dir, page, context } = await shellIn('paste');
  await page.evaluate(() => {
    const ta = document.querySelector('#terminal textarea');
    ta.focus();
    const data = new DataTransfer();
    data.items.add(new File(['pasted file\n'], 'pasted.txt'));
    ta.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  });
  await until(() => readdirSync(dir).includes('pasted.txt'), { message: () => 'the pasted file' });
  assert.equal(readFileSync(join(dir, 'pasted.txt'), 'utf8'), 'pasted file\n');
  await context.close();
});
