// 13. Logins behind a reverse proxy under a sub-path (/lanterm/): the setup link (rewritten to the
// proxy's address, as a user would), the login and logout requests, the cookie-authenticated
// REST calls and the terminal's WebSocket all stay under /lanterm/ (relative URLs only).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { startPrefixProxy } from './prefix-proxy.mjs';
import { launchBrowser, newPage, waitConnected, waitForLine, WAIT_MS } from './browser.mjs';

const PASSWORD = 'under a sub-path';

let srv;
let px;
let browser;

before(async () => {
  srv = await startServer({ logins: true });
  px = await startPrefixProxy(srv.port, { prefix: '/lanterm' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await px?.close();
  await srv?.stop();
});

test('set the password, log out and in, and use a terminal, all under /lanterm/', { timeout: 90_000 }, async () => {
  const token = await srv.setupToken();
  const { page, context } = await newPage(browser, {}, 'login-subpath');
  const requests = [];
  const sockets = [];
  page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
  page.on('websocket', (ws) => sockets.push(ws.url()));
  try {
    await page.goto(`${px.url}#setup=${token}`);
    await page.waitForSelector('#setup-form', { state: 'visible' });
    await page.fill('#s-password', PASSWORD);
    await page.fill('#s-password2', PASSWORD);
    await page.press('#s-password2', 'Enter');
    await page.waitForSelector('#list-view', { state: 'visible' });
    assert.equal(page.url(), px.url, 'the setup token is gone, the page stays under /lanterm/');
    const leaked = requests.filter((r) => r.includes('setup='));
    assert.deepEqual(leaked, [], 'the setup token (in the fragment) is in no request');

    await page.click('#logout');
    await page.fill('#l-password', PASSWORD);
    await page.press('#l-password', 'Enter');
    await page.waitForSelector('#list-view', { state: 'visible' });

    await page.click('#new-session');
    await page.fill('#f-command', 'bash --norc -i');
    await page.click('#f-submit');
    await page.waitForFunction(() => /^#\/s\//.test(location.hash), null, { timeout: WAIT_MS });
    await waitConnected(page);
    await waitForLine(page, /[#$]$/);
    await page.click('#terminal');
    await page.keyboard.type('echo sub-$RANDOM');
    await page.keyboard.press('Enter');
    await waitForLine(page, /^sub-\d+$/);

    const outside = requests.filter((r) => !r.split(' ')[1].startsWith(px.url));
    assert.deepEqual(outside, [], `every request under ${px.url}`);
    for (const want of ['POST api/password', 'POST api/logout', 'POST api/login', 'POST api/sessions']) {
      const [method, path] = want.split(' ');
      assert.ok(requests.includes(`${method} ${px.url}${path}`), `${want} through the proxy: ${requests.join('\n')}`);
    }
    const wsPrefix = `ws://127.0.0.1:${px.port}/lanterm/api/sessions/`;
    assert.ok(sockets.length >= 1 && sockets.every((u) => u.startsWith(wsPrefix)), `WebSockets: ${sockets}`);
    const upgrades = px.seen().filter((e) => e.kind === 'upgrade');
    assert.ok(upgrades.some((e) => e.status === 101), `the WebSocket was accepted: ${JSON.stringify(upgrades)}`);
  } finally {
    await context.close();
  }
});
