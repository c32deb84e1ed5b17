// 14. The cross-port hijack (issue 11). The service is reached on a Host without a port, as
// behind a reverse proxy on a board: here a TCP proxy on 127.0.0.42:80 (tests run as root).
// The owner logs in there. A page served from another port of the same host is the same site,
// so the browser sends it the SameSite=Strict login cookie; it must still not be able to create
// a session, nor attach to one and type. The owner's own page keeps working (its WebSocket too,
// under the page's `connect-src 'self'`).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer } from './server.mjs';
import { startProxy } from './proxy.mjs';
import { launchBrowser, waitConnected, waitForLine } from './browser.mjs';

const HOST = '127.0.0.42';
const PASSWORD = 'the owner password';

let srv;
let proxy;
let evil;
let browser;
let context;
let bearer;
let victim;

/** Another app on the same host: a page on its own port. */
async function startEvilSite() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>another app on the board</title><p>nothing to see');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  return { url: `http://${HOST}:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

before(async () => {
  srv = await startServer({ logins: true });
  const token = await srv.setupToken();
  const r = await srv.api.call('POST', 'api/password', { password: PASSWORD, setup_token: token });
  const set = await r.text();
  assert.equal(r.status, 200, `setting the password: ${set}`);
  bearer = { authorization: `Bearer ${JSON.parse(set).token}` };
  const created = await srv.api.call('POST', 'api/sessions', { command: 'bash --norc -i', cwd: '/' }, bearer);
  const text = await created.text();
  assert.equal(created.status, 201, text);
  victim = JSON.parse(text).session.id;
  try {
    proxy = await startProxy(srv.port, { host: HOST, port: 80 });
  } catch (e) {
    throw new Error(`this test needs ${HOST}:80 (root, and nothing else on port 80): ${e.message}`);
  }
  evil = await startEvilSite();
  browser = await launchBrowser();
  context = await browser.newContext();
});

after(async () => {
  await browser?.close();
  await evil?.close();
  await proxy?.close();
  await srv?.stop();
});

const sessionNames = async () => {
  const r = await srv.api.call('GET', 'api/sessions', undefined, bearer);
  return (await r.json()).sessions.map((s) => s.name);
};

test('the owner logs in on the portless host and uses a terminal', { timeout: 60_000 }, async () => {
  assert.equal(proxy.url, `http://${HOST}/`);
  const page = await context.newPage();
  try {
    await page.goto(proxy.url);
    await page.waitForSelector('#login-form', { state: 'visible' });
    await page.fill('#l-password', PASSWORD);
    await page.press('#l-password', 'Enter');
    await page.waitForSelector(`#sessions .session[data-id="${victim}"]`);
    await page.goto(`${proxy.url}#/s/${victim}`);
    await waitConnected(page);
    await page.click('#terminal');
    await page.keyboard.type('echo owner-$((6*7))');
    await page.keyboard.press('Enter');
    await waitForLine(page, /^owner-42$/);
  } finally {
    await page.close();
  }
});

test('a page on another port of that host can neither create a session nor attach', { timeout: 60_000 }, async () => {
  const attacker = await context.newPage(); // the owner's browser, with the owner's cookie
  attacker.on('pageerror', (e) => console.log(`[evil] pageerror: ${e.message}`));
  try {
    await attacker.goto(evil.url);
    const before = await sessionNames();
    const outcome = await attacker.evaluate(async ({ target, id }) => {
      const out = {};
      // A "simple" request (no preflight): the browser sends it, cookie and all.
      try {
        await fetch(`${target}api/sessions`, {
          method: 'POST',
          mode: 'no-cors',
          credentials: 'include',
          headers: { 'content-type': 'text/plain' },
          body: JSON.stringify({ command: 'sleep 300', cwd: '/', name: 'hijacked' }),
        });
        out.post = 'answered';
      } catch (e) {
        out.post = `failed: ${e.message}`;
      }
      const ws = target.replace(/^http/, 'ws');
      out.attach = await new Promise((resolve) => {
        const sock = new WebSocket(`${ws}api/sessions/${id}/attach?from=0`);
        sock.binaryType = 'arraybuffer';
        sock.onopen = () => {
          sock.send(new TextEncoder().encode('echo hijacked-$((6*7))\r'));
          resolve('open');
        };
        sock.onerror = () => resolve('refused');
      });
      return out;
    }, { target: proxy.url, id: victim });
    console.log(`attacker at ${evil.url}: ${JSON.stringify(outcome)}`);

    // The attack is real: its requests reached the service with the owner's cookie.
    const origin = new URL(evil.url).origin;
    const carried = proxy.heads().filter((h) => h.includes(`Origin: ${origin}`) || h.includes(`origin: ${origin}`));
    assert.ok(carried.length >= 2, `the attacker's requests went through: ${carried.length}`);
    for (const head of carried) {
      assert.match(head, /lanterm_session=/, `the browser sent the cookie along:\n${head}`);
    }
    assert.equal(outcome.attach, 'refused', 'the WebSocket must be refused');
    assert.deepEqual(await sessionNames(), before, 'no session was created');
    const out = await srv.api.call('GET', `api/sessions/${victim}/output?format=text`, undefined, bearer);
    assert.ok(!(await out.text()).includes('hijacked-42'), 'nothing was typed into the session');
  } finally {
    await attacker.close();
  }
});
