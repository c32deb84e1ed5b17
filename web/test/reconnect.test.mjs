// 3. The network path drops (a TCP proxy between page and server cuts every connection); the page
// shows "reconnecting", resumes from its offset, and every line arrives exactly once, in order.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { startProxy } from './proxy.mjs';
import {
  launchBrowser, newPage, waitConnected, waitForLine, bufferLines, dump, recordStates, WAIT_MS,
} from './browser.mjs';

let srv;
let proxy;
let browser;

before(async () => {
  srv = await startServer();
  proxy = await startProxy(srv.port);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await srv?.stop();
});

/** The line-N numbers in the buffer, in buffer order; throws on any other non-empty line. */
function lineNumbers(lines) {
  const nums = [];
  for (const l of lines) {
    if (l === '') continue;
    const m = /^line-(\d+)$/.exec(l);
    assert.ok(m, `unexpected buffer line ${JSON.stringify(l)} (duplicated or torn output?); ${dump(lines)}`);
    nums.push(Number(m[1]));
  }
  return nums;
}

async function highestLine(page) {
  const lines = await bufferLines(page);
  let max = 0;
  for (const l of lines) {
    const m = /^line-(\d+)$/.exec(l);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}

test('page resumes after the connection drops, no line twice or missing', { timeout: 90_000 }, async () => {
  const s = await srv.api.create('i=0; while :; do i=$((i+1)); echo line-$i; sleep 0.2; done');
  const { page } = await newPage(browser, {}, 'reconnect');
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));

  await page.goto(`${proxy.url}#/s/${s.id}`);
  await waitConnected(page);
  await waitForLine(page, /^line-5$/);
  await recordStates(page);

  // Cut 1: the path drops and comes straight back (the next connection is proxied).
  // Cut 2: the path stays down for 1.5 s (new connections are dropped), so output piles up
  // on the server while the page is away and has to be fetched by offset.
  for (const [i, downMs] of [[1, 0], [2, 1500]]) {
    const before = await highestLine(page);
    const attachesBefore = sockets.length;
    await page.evaluate(() => { window.__states = [window.__states.at(-1)]; });
    const cut = proxy.cut({ downMs });
    assert.ok(cut >= 1, `cut ${i}: expected the page's WebSocket to go through the proxy`);

    await page.waitForFunction(() => window.__states.includes('reconnecting'), null, { timeout: WAIT_MS })
      .catch(async (e) => {
        const states = await page.evaluate(() => window.__states);
        throw new Error(`cut ${i}: #status never showed data-state=reconnecting; states seen: ${JSON.stringify(states)}\n${e.message.split('\n')[0]}`);
      });
    await waitConnected(page);
    const states = await page.evaluate(() => window.__states);
    assert.ok(sockets.length > attachesBefore, `cut ${i}: the page should open a new WebSocket`);
    const target = before + 8;
    await waitForLine(page, new RegExp(`^line-${target}$`));
    console.log(`cut ${i} (down ${downMs} ms): last line before ${before}, states ${states.join(' -> ')}, resumed to line-${target}`);
  }

  const urls = sockets.slice(1);
  assert.ok(
    urls.every((u) => /[?&]from=\d+/.test(u)),
    `reconnects should attach with from=OFFSET: ${JSON.stringify(sockets)}`,
  );

  const lines = await bufferLines(page);
  const nums = lineNumbers(lines);
  const expected = Array.from({ length: nums.length }, (_, k) => k + 1);
  assert.deepEqual(nums, expected, `every line-N exactly once and in order from line-1; ${dump(lines, 200)}`);
  console.log(`buffer holds line-1..line-${nums.length} exactly once each; attaches: ${sockets.length}`);
  await page.context().close();
});
