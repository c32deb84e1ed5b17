// Test helper (runs nothing at load time): the server and the browser most test files share,
// started before the file's tests and stopped after them.

import { before, after } from 'node:test';
import { startServer } from './server.mjs';
import { launchBrowser } from './browser.mjs';

/**
 * Registers `before`/`after` hooks that start a server (with `options`, as startServer takes
 * them) and a browser; returns an object whose `srv` and `browser` are set once they run.
 */
export function serverAndBrowser(options) {
  const fx = { srv: null, browser: null };
  before(async () => {
    fx.srv = await startServer(options);
    fx.browser = await launchBrowser();
  });
  after(async () => {
    await fx.browser?.close();
    await fx.srv?.stop();
  });
  return fx;
}
