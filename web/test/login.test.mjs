// 10. Logins in the browser: the first-run setup link opens the "choose a password" screen; the
// password logs the page in (cookie), which then works for REST and the terminal's WebSocket,
// survives a reload, and ends with "Log out"; a wrong password is refused in the form; a
// terminal link opened while logged out shows the login screen first, then that terminal. Also
// the login screen on a phone (its screenshot goes to docs/screenshots/login-phone.png).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import {
  launchBrowser, newPage, waitConnected, waitForLine, bufferLines, dump, saveScreenshot, WAIT_MS,
} from './browser.mjs';

const PASSWORD = 'correct horse battery';

let srv;
let browser;
let page;
let context;
let sessionId;
let helloLine;

before(async () => {
  srv = await startServer({ logins: true });
  browser = await launchBrowser();
  ({ page, context } = await newPage(browser, {}, 'login'));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** What the page's own fetch of `path` answers (status), with the page's cookie. */
const pageStatus = (p, path) =>
  p.evaluate(async (u) => (await fetch(u, { cache: 'no-store' })).status, path);

/** The text of a visible error element, waiting for it. */
async function errorText(p, sel) {
  await p.waitForSelector(`${sel}:not([hidden])`, { state: 'visible' });
  return (await p.textContent(sel)).trim();
}

/**
 * Records, from now on, whether `sel` (a submit button) was ever disabled, into
 * window.__disabledSeen: the button must be off while its request runs.
 */
const watchDisabled = (p, sel) =>
  p.evaluate((s) => {
    const b = document.querySelector(s);
    window.__disabledSeen = false;
    new MutationObserver(() => {
      if (b.disabled) window.__disabledSeen = true;
    }).observe(b, { attributes: true, attributeFilter: ['disabled'] });
  }, sel);

test('the setup link: choose a password, refused when too short, then the list', { timeout: 60_000 }, async () => {
  const link = await srv.setupLink();
  assert.ok(link.startsWith(srv.url), `the setup link ${link} should point at ${srv.url}`);
  await page.goto(link);
  await page.waitForSelector('#setup-form', { state: 'visible' });
  assert.equal(await page.isVisible('#list-view'), false, 'no list before the password is set');
  for (const sel of ['#s-password', '#s-password2']) {
    assert.equal(await page.getAttribute(sel, 'autocomplete'), 'new-password', `${sel} autocomplete`);
    assert.equal(await page.getAttribute(sel, 'type'), 'password');
  }

  // Too short: the server's own message shows in the form (asked directly for comparison;
  // a refused password does not use the setup token up).
  const token = new URL(link).hash.slice('#setup='.length);
  const direct = await srv.api.call('POST', 'api/password', { password: 'short', setup_token: token });
  assert.equal(direct.status, 400);
  const serverMessage = (await direct.json()).error.message;
  await page.fill('#s-password', 'short');
  await page.fill('#s-password2', 'short');
  await watchDisabled(page, '#s-submit');
  await page.press('#s-password2', 'Enter');
  assert.equal(await errorText(page, '#setup-error'), serverMessage);
  assert.ok(await page.evaluate(() => window.__disabledSeen), '#s-submit should be disabled while the request runs');
  assert.equal(await page.isEnabled('#s-submit'), true);

  // The two fields must agree (checked in the page).
  await page.fill('#s-password', PASSWORD);
  await page.fill('#s-password2', `${PASSWORD}!`);
  await page.press('#s-password2', 'Enter');
  await page.waitForFunction(() => /not the same/.test(document.querySelector('#setup-error').textContent));

  await page.fill('#s-password2', PASSWORD);
  await page.press('#s-password2', 'Enter');
  await page.waitForSelector('#list-view', { state: 'visible' });
  assert.equal(await page.isVisible('#login-view'), false);
  const url = new URL(page.url());
  assert.equal(url.search, '', `no query: ${page.url()}`);
  assert.ok(!url.hash.includes('setup'), `the setup token should be gone from the address: ${page.url()}`);
  assert.equal(url.pathname, '/');

  const cookie = (await context.cookies()).find((c) => c.name === 'lanterm_session');
  assert.ok(cookie, 'the page should hold the lanterm_session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await pageStatus(page, 'api/sessions'), 200);
  // The link worked once: the same token is refused now.
  const again = await srv.api.call('POST', 'api/password', { password: 'another one', setup_token: token });
  assert.equal(again.status, 403);
});

test('logged in: create a session, type into it (REST and WebSocket by cookie), reload', { timeout: 60_000 }, async () => {
  await page.click('#new-session');
  await page.waitForSelector('#create-form', { state: 'visible' });
  await page.fill('#f-command', 'bash --norc -i');
  await page.click('#f-submit');
  const hash = await page.waitForFunction(
    () => /^#\/s\/[A-Za-z0-9_-]{17}$/.test(location.hash) && location.hash,
    null,
    { timeout: WAIT_MS },
  ).catch(async (e) => {
    throw new Error(`no terminal view (#form-error: ${await page.textContent('#form-error')}): ${e.message}`);
  });
  sessionId = (await hash.jsonValue()).slice('#/s/'.length);
  await waitConnected(page);
  await waitForLine(page, /[#$]$/);
  await page.click('#terminal');
  await page.keyboard.type('echo hello-$RANDOM');
  await page.keyboard.press('Enter');
  helloLine = await waitForLine(page, /^hello-\d+$/);

  await page.reload();
  await waitConnected(page);
  await waitForLine(page, new RegExp(`^${helloLine}$`));
  assert.equal(await page.isVisible('#login-view'), false, 'a reload keeps the login');
  console.log(`session ${sessionId}: "${helloLine}" through the cookie, again after a reload`);
});

test('log out: the login screen, 401 for the API; a wrong password, then the right one', { timeout: 60_000 }, async () => {
  assert.ok(sessionId, 'needs the session of the previous test');
  await page.click('#back');
  await page.waitForSelector('#list-view', { state: 'visible' });
  await page.waitForSelector(`#sessions .session[data-id="${sessionId}"]`);
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible' });
  assert.equal(await page.isVisible('#list-view'), false);
  assert.match(await page.textContent('#login-note'), /logged out/);
  assert.equal(await page.getAttribute('#l-password', 'autocomplete'), 'current-password');
  assert.equal(await pageStatus(page, 'api/sessions'), 401, 'after logout the API should answer 401');
  assert.equal(
    (await context.cookies()).some((c) => c.name === 'lanterm_session' && c.value),
    false,
    'the cookie should be cleared',
  );

  await page.fill('#l-password', 'not the password');
  await watchDisabled(page, '#l-submit');
  await page.press('#l-password', 'Enter');
  assert.equal(await errorText(page, '#login-error'), 'wrong password');
  assert.ok(await page.evaluate(() => window.__disabledSeen), '#l-submit should be disabled while the request runs');
  assert.equal(await page.isVisible('#list-view'), false);

  await page.fill('#l-password', PASSWORD);
  await page.press('#l-password', 'Enter');
  await page.waitForSelector('#list-view', { state: 'visible' });
  await page.waitForSelector(`#sessions .session[data-id="${sessionId}"]`);
  assert.equal(await page.isVisible('#login-view'), false);
  assert.equal(await pageStatus(page, 'api/sessions'), 200);
});

test('a terminal link opened while logged out: the login screen, then that terminal', { timeout: 60_000 }, async () => {
  assert.ok(helloLine, 'needs the session of the earlier tests');
  const { page: p2, context: c2 } = await newPage(browser, {}, 'login-link');
  try {
    await p2.goto(`${srv.url}#/s/${sessionId}`);
    await p2.waitForSelector('#login-form', { state: 'visible' });
    assert.equal(await p2.isVisible('#term-view'), false);
    assert.equal(await p2.evaluate(() => window.lanterm.term), null, 'no terminal behind the login screen');
    await p2.fill('#l-password', PASSWORD);
    await p2.click('#l-submit');
    await waitConnected(p2);
    assert.equal(await p2.evaluate(() => location.hash), `#/s/${sessionId}`);
    await waitForLine(p2, new RegExp(`^${helloLine}$`));
    const lines = await bufferLines(p2);
    assert.ok(lines.some((l) => l.includes('echo hello-$RANDOM')), `the history should be replayed; ${dump(lines)}`);
  } finally {
    await c2.close();
  }
});

test('the login screen fits a phone (390 x 844 screenshot, and 360 wide)', { timeout: 60_000 }, async () => {
  for (const width of [390, 360]) {
    const phone = { viewport: { width, height: width === 390 ? 844 : 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
    const { page: p, context: c } = await newPage(browser, phone, `phone-${width}`);
    try {
      await p.goto(srv.url);
      await p.waitForSelector('#login-form', { state: 'visible' });
      const fit = await p.evaluate(() => {
        const box = (s) => document.querySelector(s).getBoundingClientRect();
        return {
          scroll: document.documentElement.scrollWidth,
          form: box('#login-form'),
          input: box('#l-password'),
          button: box('#l-submit'),
        };
      });
      assert.ok(fit.scroll <= width, `no sideways scrolling at ${width} px: scrollWidth ${fit.scroll}`);
      for (const k of ['form', 'input', 'button']) {
        assert.ok(fit[k].left >= 0 && fit[k].right <= width, `${k} inside ${width} px: ${JSON.stringify(fit[k])}`);
      }
      assert.ok(fit.button.height >= 40, `a button a thumb can hit: ${fit.button.height} px`);
      if (width === 390) {
        await p.evaluate(() => document.activeElement && document.activeElement.blur());
        await saveScreenshot(p, 'login-phone');
      }
    } finally {
      await c.close();
    }
  }
});
