// 11. The service is killed (a crash) before it stored output the page had shown; it comes back
// on the same port and database. The page reattaches with the offset it holds, is told where
// the stream really starts, says in one line what was not saved, and goes on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from './server.mjs';
import { launchBrowser, newPage, waitConnected, waitForLine, bufferLines, dump } from './browser.mjs';

test('after a crash the page says what was not saved and goes on', { timeout: 90_000 }, async () => {
  // Nothing but records is committed before the crash: the worst case.
  const first = await startServer({ extraArgs: ['--flush-interval', '1h', '--commit-idle', '0'] });
  let second = null;
  const browser = await launchBrowser();
  try {
    // The output comes after the page has attached and sent its size (a record change, which
    // commits whatever is pending with it).
    const s = await first.api.create('read x; echo never-saved-line; exec sleep 600');
    const { page } = await newPage(browser, {}, 'crash-resume');
    await page.goto(`${first.url}#/s/${s.id}`);
    await waitConnected(page);
    await first.api.waitFor(s.id, (x) => x.clients === 1 && x.cols !== 80, { what: 'the page\'s size' });
    await first.api.input(s.id, 'go\n');
    await waitForLine(page, /^never-saved-line$/);

    const gone = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await gone;
    second = await startServer({
      extraArgs: ['--db', join(first.dir, 'l.db'), '--listen', `127.0.0.1:${first.port}`],
    });
    await waitForLine(page, /^\[output after \d\d:\d\d:\d\d was not saved\]$/);
    const lines = await bufferLines(page);
    const notices = lines.filter((l) => l.includes('was not saved')).length;
    assert.equal(notices, 1, dump(lines));
    assert.ok(lines.includes('never-saved-line'), 'what was shown stays on screen');
  } finally {
    await browser.close();
    await second?.stop();
    await first.stop();
  }
});
