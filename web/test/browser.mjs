// Test helper (runs nothing at load time): Chromium through playwright-core, and ways to read
// the page's terminal through window.lanterm.term (xterm.js buffer), never through pixels.

import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WAIT_MS = 15_000;

const ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's Chromium ($CHROMIUM or /usr/bin/chromium), headless, ephemeral profile. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ARGS,
    timeout: 60_000,
  });
}

/**
 * A fresh context and page; page errors and console errors are echoed with `tag`, so a failing
 * run says what the page complained about.
 */
export async function newPage(browser, contextOptions = {}, tag = 'page') {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => console.log(`[${tag}] pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[${tag}] console.error: ${m.text()}`);
  });
  return { context, page };
}

/**
 * Where screenshots go: docs/screenshots/ when UPDATE_SCREENSHOTS=1 (to refresh the ones the
 * README shows), else a scratch directory, so an ordinary test run leaves the tree clean.
 */
export const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1'
  ? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'screenshots')
  : join(tmpdir(), 'lanterm-screenshots');

/** Saves a PNG of `page` as NAME.png in [SCREENSHOTS]; returns the PNG's bytes. */
export async function saveScreenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** Sleeps; only for the places where a pause is the scenario itself. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls async `fn` until it returns a truthy value; throws `message()` at the deadline. */
export async function until(fn, { timeout = WAIT_MS, interval = 100, message = () => 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`not reached within ${timeout} ms: ${await message()}`);
    }
    await sleep(interval);
  }
}

/**
 * All lines of the active buffer (scrollback included), right-trimmed (translateToString(true)
 * keeps spaces that were written, e.g. after a prompt; they are dropped too).
 */
export function bufferLines(page) {
  return page.evaluate(() => {
    const t = window.lanterm && window.lanterm.term;
    if (!t) return null;
    const b = t.buffer.active;
    const out = [];
    for (let i = 0; i < b.length; i++) {
      const l = b.getLine(i);
      out.push(l ? l.translateToString(true).replace(/\s+$/, '') : '');
    }
    return out;
  });
}

/** The visible screen: the last `rows` lines of the active buffer, right-trimmed. */
export function screenLines(page) {
  return page.evaluate(() => {
    const t = window.lanterm && window.lanterm.term;
    if (!t) return null;
    const b = t.buffer.active;
    const out = [];
    const start = Math.max(0, b.length - t.rows);
    for (let i = start; i < b.length; i++) {
      const l = b.getLine(i);
      out.push(l ? l.translateToString(true).replace(/\s+$/, '') : '');
    }
    return out;
  });
}

/** Trailing part of a dump of lines, for error messages. */
export function dump(lines, max = 40) {
  if (!lines) return '(no window.lanterm.term)';
  const tail = lines.slice(-max);
  return `${lines.length} lines, last ${tail.length}:\n${tail.map((l) => `  |${l}`).join('\n')}`;
}

/** Waits until some buffer line matches `re`; returns the first matching line's text. */
export async function waitForLine(page, re, { timeout = WAIT_MS } = {}) {
  try {
    const handle = await page.waitForFunction(
      ([src, flags]) => {
        const rx = new RegExp(src, flags);
        const t = window.lanterm && window.lanterm.term;
        if (!t) return false;
        const b = t.buffer.active;
        for (let i = 0; i < b.length; i++) {
          const l = b.getLine(i);
          const s = l ? l.translateToString(true).replace(/\s+$/, '') : '';
          if (rx.test(s)) return s;
        }
        return false;
      },
      [re.source, re.flags],
      { timeout, polling: 100 },
    );
    return await handle.jsonValue();
  } catch (e) {
    const lines = await bufferLines(page).catch(() => null);
    const state = await statusOf(page).catch(() => '?');
    throw new Error(`no buffer line matching ${re} within ${timeout} ms (status ${state}); ${dump(lines)}\n(${e.message.split('\n')[0]})`);
  }
}

/** #status's data-state and text. */
export function statusOf(page) {
  return page.evaluate(() => {
    const el = document.querySelector('#status');
    return el ? `${el.getAttribute('data-state')} "${el.textContent.trim()}"` : '(no #status)';
  });
}

/** Waits for #status[data-state=STATE] (attached; it need not be visible). */
export async function waitForState(page, state, { timeout = WAIT_MS } = {}) {
  try {
    await page.waitForSelector(`#status[data-state="${state}"]`, { state: 'attached', timeout });
  } catch (e) {
    const now = await statusOf(page).catch(() => '?');
    throw new Error(`#status never reached data-state=${state} within ${timeout} ms; it is ${now}\n(${e.message.split('\n')[0]})`);
  }
}

/** Waits for the terminal view to be attached: window.lanterm present and #status connected. */
export async function waitConnected(page, opts) {
  await page.waitForFunction(() => window.lanterm && window.lanterm.term, null, {
    timeout: (opts && opts.timeout) || WAIT_MS,
  });
  await waitForState(page, 'connected', opts);
}

/**
 * Records every data-state #status takes from now on into window.__states (the element may be
 * replaced, so the whole document is observed).
 */
export function recordStates(page) {
  return page.evaluate(() => {
    const cur = () => {
      const el = document.querySelector('#status');
      return el ? el.getAttribute('data-state') : null;
    };
    window.__states = [cur()];
    new MutationObserver(() => {
      const s = cur();
      if (window.__states[window.__states.length - 1] !== s) window.__states.push(s);
    }).observe(document.documentElement, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-state'],
    });
  });
}
