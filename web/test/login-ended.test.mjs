// 11. A login that ends while the page is open (the password changed elsewhere, which revokes
// it): the terminal's WebSocket and the list's event stream cannot see a 401 themselves, so the
// page asks the API, shows the login screen instead of reconnecting forever, and after the
// login comes back to the same route. Then "Change password" from the page: other logins end,
// this page stays logged in. (A TCP proxy cuts the open connections, so the page reconnects.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { startProxy } from './proxy.mjs';
import { launchBrowser, newPage, waitConnected, waitForLine, WAIT_MS } from './browser.mjs';

let srv;
let proxy;
let browser;
let page;
let password = 'first password here';

before(async () => {
  srv = await startServer({ logins: true });
  proxy = await startProxy(srv.port);
  browser = await launchBrowser();
  ({ page } = await newPage(browser, {}, 'ended'));
  // the password, set through the setup link's token (no page involved)
  const token = await srv.setupToken();
  const r = await srv.api.call('POST', 'api/password', { password, setup_token: token });
  assert.equal(r.status, 200, `setting the first password: ${await r.text()}`);
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await srv?.stop();
});

/** A bearer token for `pw`, as a script would log in. */
async function bearer(pw) {
  const r = await srv.api.call('POST', 'api/login', { password: pw });
  const text = await r.text();
  assert.equal(r.status, 200, `login: ${text}`);
  return JSON.parse(text).token;
}

/** Changes the password with a bearer login: every other login (the page's) is revoked. */
async function changePasswordElsewhere(next) {
  const token = await bearer(password);
  const body = { password: next, current_password: password };
  const r = await srv.api.call('POST', 'api/password', body, { authorization: `Bearer ${token}` });
  assert.equal(r.status, 200, `changing the password: ${await r.text()}`);
  password = next;
}

/** Logs the page in through the login form. */
async function logIn(p) {
  await p.waitForSelector('#login-form', { state: 'visible' });
  await p.fill('#l-password', password);
  await p.press('#l-password', 'Enter');
  await p.waitForSelector('#login-view', { state: 'hidden' });
}

const pageStatus = (p, path) =>
  p.evaluate(async (u) => (await fetch(u, { cache: 'no-store' })).status, path);

let sessionId;

test('the terminal: the login ends, the page shows the login screen, then the same terminal', { timeout: 90_000 }, async () => {
  await page.goto(proxy.url);
  await logIn(page);
  await page.waitForSelector('#list-view', { state: 'visible' });
  const created = await page.evaluate(async () => {
    const r = await fetch('api/sessions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'bash --norc -i', cwd: '/' }),
    });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  sessionId = created.body.session.id;
  await page.evaluate((id) => { location.hash = `#/s/${id}`; }, sessionId);
  await waitConnected(page);
  await waitForLine(page, /[#$]$/);
  await page.click('#terminal');
  await page.keyboard.type('echo before-$RANDOM');
  await page.keyboard.press('Enter');
  const before = await waitForLine(page, /^before-\d+$/);

  await changePasswordElsewhere('second password here');
  proxy.cut(); // the WebSocket drops (if the service has not closed it already)
  await page.waitForSelector('#login-form', { state: 'visible' }).catch(async (e) => {
    const st = await page.evaluate(() => window.lanterm.state());
    throw new Error(`no login screen after the login ended (terminal state ${st}): ${e.message.split('\n')[0]}`);
  });
  assert.equal(await page.evaluate(() => window.lanterm.term), null, 'the terminal stops reconnecting');
  assert.match(await page.textContent('#login-note'), /ended/);
  assert.equal(await page.evaluate(() => location.hash), `#/s/${sessionId}`, 'the route stays');

  await logIn(page);
  await waitConnected(page);
  assert.equal(await page.evaluate(() => location.hash), `#/s/${sessionId}`);
  await waitForLine(page, new RegExp(`^${before}$`));
  await page.click('#terminal');
  await page.keyboard.type('echo after-$RANDOM');
  await page.keyboard.press('Enter');
  await waitForLine(page, /^after-\d+$/);
});

test('the list: the login ends, the event stream leads to the login screen, then the list', { timeout: 90_000 }, async () => {
  assert.ok(sessionId, 'needs the session of the previous test');
  await page.click('#back');
  await page.waitForSelector('#list-view', { state: 'visible' });
  await page.waitForSelector('#live[data-state="live"]', { state: 'attached' });

  await changePasswordElsewhere('third password here');
  proxy.cut(); // the event stream drops and EventSource reconnects, into a 401
  await page.waitForSelector('#login-form', { state: 'visible' });
  assert.equal(await page.evaluate(() => location.hash), '#/');
  await logIn(page);
  await page.waitForSelector(`#sessions .session[data-id="${sessionId}"]`, { state: 'visible' });
  await page.waitForSelector('#live[data-state="live"]', { state: 'attached', timeout: WAIT_MS });
});

test('change password from the page: other logins end, this page stays in', { timeout: 60_000 }, async () => {
  const other = await bearer(password);
  const auth = { authorization: `Bearer ${other}` };
  assert.equal((await srv.api.call('GET', 'api/sessions', undefined, auth)).status, 200);

  await page.click('#change-password');
  await page.waitForSelector('#password-dialog', { state: 'visible' });
  for (const sel of ['#p-password', '#p-password2']) {
    assert.equal(await page.getAttribute(sel, 'autocomplete'), 'new-password');
  }
  assert.equal(await page.getAttribute('#p-current', 'autocomplete'), 'current-password');
  // A wrong current password: said in the dialog, and this login lives on.
  await page.fill('#p-current', 'not the password');
  await page.fill('#p-password', 'fourth password here');
  await page.fill('#p-password2', 'fourth password here');
  await page.press('#p-password2', 'Enter');
  await page.waitForFunction(() => /current password is wrong/.test(document.querySelector('#password-error').textContent));
  assert.equal(await page.isVisible('#password-dialog'), true);
  assert.equal(await page.isVisible('#login-view'), false, 'a wrong current password does not log out');
  await page.fill('#p-current', password);
  await page.fill('#p-password', 'fourth password here');
  await page.fill('#p-password2', 'fourth password HERE');
  await page.press('#p-password2', 'Enter');
  await page.waitForSelector('#password-error:not([hidden])');
  assert.match(await page.textContent('#password-error'), /not the same/);
  await page.fill('#p-password', 'short');
  await page.fill('#p-password2', 'short');
  await page.press('#p-password2', 'Enter');
  await page.waitForFunction(() => /at least 8/.test(document.querySelector('#password-error').textContent));

  await page.fill('#p-password', 'fourth password here');
  await page.fill('#p-password2', 'fourth password here');
  await page.press('#p-password2', 'Enter');
  await page.waitForSelector('#password-dialog', { state: 'hidden' });
  await page.waitForSelector('#toast:not([hidden])');
  assert.match(await page.textContent('#toast'), /Password changed/);
  password = 'fourth password here';

  assert.equal((await srv.api.call('GET', 'api/sessions', undefined, auth)).status, 401, 'the other login ended');
  assert.equal(await pageStatus(page, 'api/sessions'), 200, 'this page is still logged in');
  assert.equal(await page.isVisible('#list-view'), true);
  await bearer('fourth password here'); // the new password works
});
