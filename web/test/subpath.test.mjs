// 9. Behind a reverse proxy under a sub-path (/lanterm/), the whole UI works: the page, its
// assets, the API, the live list (api/events) and the terminal's WebSocket all go through
// /lanterm/..., because the page uses relative URLs only (docs/UI.md). The proxy answers 404 to
// anything outside /lanterm/, and every request the page makes is checked to stay under it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { startPrefixProxy } from './prefix-proxy.mjs';
import { launchBrowser, newPage, waitConnected, waitForLine, bufferLines, dump, WAIT_MS } from './browser.mjs';

const COMMAND = 'bash --norc -i';

let srv;
let px;
let browser;

before(async () => {
  srv = await startServer();
  px = await startPrefixProxy(srv.port, { prefix: '/lanterm' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await px?.close();
  await srv?.stop();
});

test('the proxy itself: /lanterm/ is the server, /lanterm redirects, the root is 404', { timeout: 30_000 }, async () => {
  const health = await fetch(`${px.url}api/health`);
  assert.equal(health.status, 200, `GET /lanterm/api/health through the proxy: ${await health.text()}`);
  await health.arrayBuffer().catch(() => {});

  const bare = await fetch(`${px.origin}/lanterm`, { redirect: 'manual' });
  assert.equal(bare.status, 301);
  assert.equal(bare.headers.get('location'), '/lanterm/');

  for (const p of ['/', '/api/health', '/api/sessions', '/index.html']) {
    const r = await fetch(`${px.origin}${p}`, { redirect: 'manual' });
    await r.arrayBuffer();
    assert.equal(r.status, 404, `GET ${p} at the proxy's root should be 404`);
  }
});

test('the UI works under /lanterm/ and every request stays under it', { timeout: 90_000 }, async () => {
  const { page, context } = await newPage(browser, {}, 'subpath');
  const seenFrom = px.seen().length; // the proxy's log from here on is this page's
  const pageSeen = () => px.seen().slice(seenFrom);
  const requests = []; // every request the page made (WebSockets are separate in Playwright)
  const failed = [];
  const bad = []; // responses >= 400
  const sockets = [];
  page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
  page.on('requestfailed', (r) => failed.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) bad.push(`${r.status()} ${r.url()}`); });
  page.on('websocket', (ws) => sockets.push(ws.url()));
  const report = () => [
    `page requests:\n${requests.map((u) => `  ${u}`).join('\n')}`,
    `websockets: ${JSON.stringify(sockets)}`,
    `failed: ${JSON.stringify(failed)}`,
    `responses >= 400: ${JSON.stringify(bad)}`,
    `proxy saw:\n${pageSeen().map((e) => `  ${e.kind} ${e.method} ${e.url} -> ${e.forwarded ?? '(not forwarded)'} ${e.status}`).join('\n')}`,
  ].join('\n');

  try {
    // The list view loads (script and styles from /lanterm/assets/..., the list from the API).
    await page.goto(px.url);
    await page.waitForSelector('#list-view:not([hidden])', { state: 'visible' }).catch((e) => {
      throw new Error(`the list view never showed under ${px.url}\n${report()}\n(${e.message.split('\n')[0]})`);
    });

    // Create a session from the UI.
    await page.click('#new-session');
    await page.waitForSelector('#create-form', { state: 'visible' });
    await page.fill('#f-command', COMMAND);
    await page.click('#f-submit');
    const hash = await page.waitForFunction(
      () => /^#\/s\/[A-Za-z0-9_-]{17}$/.test(location.hash) && location.hash,
      null,
      { timeout: WAIT_MS },
    ).catch(async (e) => {
      const err = await page.textContent('#form-error').catch(() => '?');
      throw new Error(`no terminal view after #f-submit (#form-error: ${JSON.stringify(err)})\n${report()}\n(${e.message.split('\n')[0]})`);
    });
    const id = (await hash.jsonValue()).slice('#/s/'.length);
    assert.equal(new URL(page.url()).pathname, '/lanterm/', 'the page stays at /lanterm/ (hash routes)');
    const s = await srv.api.get(id);
    assert.equal(s.command, COMMAND);
    assert.equal(s.status, 'running');

    // The terminal attaches (WebSocket through the proxy's upgrade path) and answers typing.
    await waitConnected(page).catch((e) => { throw new Error(`${e.message}\n${report()}`); });
    await waitForLine(page, /[#$]$/); // bash's prompt: the shell reads what we type
    await page.click('#terminal');
    await page.keyboard.type('echo sub-$RANDOM');
    await page.keyboard.press('Enter');
    const subLine = await waitForLine(page, /^sub-\d+$/);
    const lines = await bufferLines(page);
    assert.ok(lines.some((l) => l.includes('echo sub-$RANDOM')), `the typed command should be echoed; ${dump(lines)}`);

    // The transcript link resolves under the sub-path too, and serves the output.
    const transcript = await page.evaluate(async () => {
      const href = document.querySelector('#download').href;
      const r = await fetch(href, { cache: 'no-store' });
      return { href, status: r.status, text: await r.text() };
    });
    assert.equal(
      transcript.href,
      `${px.url}api/sessions/${id}/output?format=text`,
      'the #download link is relative to the page',
    );
    assert.equal(transcript.status, 200);
    assert.ok(transcript.text.includes(subLine), `the transcript should hold "${subLine}"`);

    // Back to the list: the session is there, running, with its command.
    await page.click('#back');
    await page.waitForSelector('#list-view:not([hidden])', { state: 'visible' });
    const row = `#sessions .session[data-id="${id}"]`;
    await page.waitForSelector(row, { state: 'visible' }).catch((e) => {
      throw new Error(`session ${id} not in the list after #back\n${report()}\n(${e.message.split('\n')[0]})`);
    });
    assert.equal(new URL(page.url()).pathname, '/lanterm/');
    assert.equal((await page.textContent(`${row} .command`))?.trim(), COMMAND);
    await page.waitForSelector(`${row}[data-status="running"]`, { state: 'attached' });

    // Every request stayed under /lanterm/, nothing failed, and the proxy forwarded all of them.
    const prefix = `${px.origin}/lanterm/`;
    const outside = requests.filter((r) => !r.split(' ')[1].startsWith(prefix));
    assert.deepEqual(outside, [], `requests outside /lanterm/\n${report()}`);
    assert.ok(sockets.length >= 1, `the terminal should open a WebSocket\n${report()}`);
    const wsPrefix = `ws://127.0.0.1:${px.port}/lanterm/api/sessions/${id}/attach`;
    assert.ok(sockets.every((u) => u.startsWith(wsPrefix)), `WebSockets should be ${wsPrefix}?...\n${report()}`);
    assert.deepEqual(bad, [], `no response >= 400\n${report()}`);

    const seen = pageSeen();
    const mustSee = [
      (e) => e.kind === 'http' && e.url === '/lanterm/',
      (e) => e.kind === 'http' && /^\/lanterm\/assets\/app-[0-9a-f]+\.js$/.test(e.url),
      (e) => e.kind === 'http' && /^\/lanterm\/assets\/app-[0-9a-f]+\.css$/.test(e.url),
      (e) => e.kind === 'http' && e.method === 'POST' && e.url === '/lanterm/api/sessions',
      (e) => e.kind === 'http' && e.url.startsWith('/lanterm/api/events'),
      (e) => e.kind === 'upgrade' && e.url.startsWith(`/lanterm/api/sessions/${id}/attach`) && e.status === 101,
    ];
    for (const pred of mustSee) {
      assert.ok(seen.some(pred), `the proxy should have forwarded ${pred}\n${report()}`);
    }
    const notForwarded = seen.filter((e) => e.forwarded === null);
    assert.deepEqual(notForwarded, [], `the proxy got requests outside /lanterm/\n${report()}`);

    console.log(
      `session ${id} under ${px.url}: read back "${subLine}"; ${requests.length} page requests, ` +
      `${sockets.length} WebSocket(s), ${seen.length} at the proxy, all under /lanterm/`,
    );
  } finally {
    await context.close();
  }
});
