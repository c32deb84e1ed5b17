// 12. Around the login screen: the list's header with its login controls fits a 360-px phone;
// without logins (--no-auth) there is no login screen and no log-out or password control; and
// too many wrong passwords get a 429 whose wait the form shows (the button counts it down).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launchBrowser, newPage } from './browser.mjs';

const PASSWORD = 'the right password';
const ATTEMPTS = 3; // --login-attempts: the 4th wrong password in the window is a 429

let srv;
let browser;

before(async () => {
  srv = await startServer({ logins: true, extraArgs: ['--login-attempts', String(ATTEMPTS)] });
  browser = await launchBrowser();
  const token = await srv.setupToken();
  const r = await srv.api.call('POST', 'api/password', { password: PASSWORD, setup_token: token });
  assert.equal(r.status, 200, `setting the password: ${await r.text()}`);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('the list header with its login controls fits 360 px', { timeout: 60_000 }, async () => {
  const phone = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
  const { page, context } = await newPage(browser, phone, 'header-360');
  try {
    await page.goto(srv.url);
    await page.fill('#l-password', PASSWORD);
    await page.press('#l-password', 'Enter');
    await page.waitForSelector('#list-view', { state: 'visible' });
    const fit = await page.evaluate(() => {
      const bar = document.querySelector('#list-view .bar');
      const box = (s) => document.querySelector(s).getBoundingClientRect();
      return {
        scroll: bar.scrollWidth,
        client: bar.clientWidth,
        page: document.documentElement.scrollWidth,
        items: ['#new-session', '#change-password', '#logout'].map((s) => [s, box(s)]),
      };
    });
    assert.ok(fit.scroll <= fit.client, `the header does not overflow: ${fit.scroll} > ${fit.client}`);
    assert.ok(fit.page <= 360, `no sideways scrolling: ${fit.page}`);
    for (const [sel, b] of fit.items) {
      assert.ok(b.width > 0 && b.left >= 0 && b.right <= 360, `${sel} visible within 360 px: ${JSON.stringify(b)}`);
    }
  } finally {
    await context.close();
  }
});

test('without logins (--no-auth): the list at once, no log-out or password control', { timeout: 60_000 }, async () => {
  const open = await startServer();
  const { page, context } = await newPage(browser, {}, 'no-auth');
  try {
    await page.goto(open.url);
    await page.waitForSelector('#list-view', { state: 'visible' });
    assert.equal(await page.isVisible('#login-view'), false);
    await page.waitForSelector('#logout', { state: 'hidden' });
    assert.equal(await page.isVisible('#change-password'), false);
    assert.equal(await page.isVisible('#new-session'), true);
  } finally {
    await context.close();
    await open.stop();
  }
});

// Last: the limiter counts per address, and every page here is 127.0.0.1.
test('too many wrong passwords: the form shows the 429 and counts the wait down', { timeout: 60_000 }, async () => {
  const { page, context } = await newPage(browser, {}, 'limit');
  try {
    await page.goto(srv.url);
    await page.waitForSelector('#login-form', { state: 'visible' });
    for (let i = 1; i <= ATTEMPTS; i++) {
      await page.fill('#l-password', `wrong ${i}`);
      await page.press('#l-password', 'Enter');
      // each answer replaces the error text; wait for this attempt's (the button comes back)
      await page.waitForFunction(
        () => !document.querySelector('#l-submit').disabled && !document.querySelector('#login-error').hidden,
      );
      assert.equal((await page.textContent('#login-error')).trim(), 'wrong password', `attempt ${i}`);
      await page.evaluate(() => { document.querySelector('#login-error').hidden = true; });
    }
    await page.fill('#l-password', PASSWORD); // even the right one waits now
    await page.press('#l-password', 'Enter');
    await page.waitForSelector('#login-error:not([hidden])');
    const message = (await page.textContent('#login-error')).trim();
    const m = /try again in (\d+) seconds/.exec(message);
    assert.ok(m, `the server's 429 message should show: ${JSON.stringify(message)}`);
    const label = (await page.textContent('#l-submit')).trim();
    assert.match(label, /^Try again in (\d+:\d\d|\d+ s)$/, 'the button shows the wait');
    assert.equal(await page.isDisabled('#l-submit'), true, 'no submitting while the wait runs');
    // it counts down: the label changes while the button stays off
    await page.waitForFunction((first) => document.querySelector('#l-submit').textContent.trim() !== first, label);
    assert.equal(await page.isDisabled('#l-submit'), true);
    assert.equal(await page.isVisible('#list-view'), false);
    console.log(`429: "${message}"; button "${label}"`);
  } finally {
    await context.close();
  }
});
