// Test helper (imports nothing at load time, runs nothing): starts the real lanterm binary on a
// free loopback port with a fresh database, and gives small fetch helpers for its REST API.
//
//   const srv = await startServer();      // srv.url = 'http://127.0.0.1:PORT/'
//   const s = await srv.api.create('sleep 100');
//   ...
//   await srv.stop();                      // SIGTERM, waits for the exit
//
// It runs with --no-auth unless `startServer({ logins: true })`: then with logins and no
// password yet, so the service logs its first-run setup link (`await srv.setupLink()`).
//
// The binary is $LANTERM_BIN, else this repository's target/debug/lanterm (build the page
// first: `scripts/web && cargo build`, so that it is embedded).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.LANTERM_BIN || join(REPO, 'target', 'debug', 'lanterm');

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const LOG_KEEP = 64 * 1024;

/**
 * Starts `lanterm serve` and resolves once its stderr says `ready on http://127.0.0.1:PORT`.
 * `logins`: without --no-auth (a fresh database, so no password is set).
 */
export async function startServer({ extraArgs = [], logins = false } = {}) {
  if (!existsSync(BIN)) {
    const from = process.env.LANTERM_BIN ? '$LANTERM_BIN' : 'the default';
    throw new Error(
      `no lanterm binary at ${BIN} (${from}): build it with \`scripts/web && cargo build\` ` +
      'in the repository, or set LANTERM_BIN to one',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'lanterm-e2e-'));
  const args = [
    'serve',
    '--listen', '127.0.0.1:0',
    ...(logins ? [] : ['--no-auth']),
    '--allow-root',
    '--db', join(dir, 'l.db'),
    '--flush-interval', '50ms',
    ...extraArgs,
  ];
  const child = spawn(BIN, args, {
    env: { HOME: '/root', PATH: '/usr/bin:/bin' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let exitInfo = null;
  exited.then((info) => { exitInfo = info; });

  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`lanterm not ready within ${READY_TIMEOUT_MS} ms; stderr so far:\n${log}`));
    }, READY_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BIN}: ${e.message}`));
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`lanterm exited (code ${code}, signal ${signal}) before ready:\n${log}`));
    });
    child.stderr.setEncoding('utf8');
    // Stays attached for the server's whole life: stderr is always drained.
    child.stderr.on('data', (chunk) => {
      log += chunk;
      if (log.length > LOG_KEEP) log = log.slice(-LOG_KEEP);
      const m = /ready on (http:\/\/127\.0\.0\.1:(\d+))/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });

  const url = `${origin}/`;
  const port = Number(new URL(url).port);

  let stopping = null;
  async function stop() {
    if (stopping) return stopping;
    stopping = (async () => {
      if (exitInfo === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
      return exitInfo;
    })();
    return stopping;
  }

  /** The first-run setup link the service logs (logins, no password yet), once it is there. */
  async function setupLink({ timeout = READY_TIMEOUT_MS } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const m = /(http:\/\/\S+\/#setup=[A-Za-z0-9_-]+)/.exec(log);
      if (m) return m[1];
      if (Date.now() > deadline || exitInfo !== null) {
        throw new Error(`no setup link in lanterm's log within ${timeout} ms:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The setup link's token (its fragment is `#setup=TOKEN`). */
  async function setupToken(opts) {
    return new URL(await setupLink(opts)).hash.slice('#setup='.length);
  }

  return { url, origin, port, dir, child, api: apiClient(url), log: () => log, setupLink, setupToken, stop };
}

/** Small helpers for the REST API of docs/PROTOCOL.md, against base URL `base` (ends in /). */
export function apiClient(base) {
  async function call(method, path, body, headers = {}) {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      if (typeof body === 'string' || body instanceof Uint8Array) {
        init.body = body;
      } else {
        init.body = JSON.stringify(body);
        init.headers['content-type'] = 'application/json';
      }
    }
    const r = await fetch(new URL(path, base), init);
    return r;
  }
  async function json(method, path, body, okStatus) {
    const r = await call(method, path, body);
    const text = await r.text();
    if (r.status !== okStatus) {
      throw new Error(`${method} ${path}: expected ${okStatus}, got ${r.status}: ${text}`);
    }
    return text ? JSON.parse(text) : null;
  }
  const api = {
    base,
    call,
    /** POST api/sessions with {command, cwd: '/'} (+ extra fields); returns the session. */
    async create(command, extra = {}) {
      const body = { cwd: '/', ...extra };
      if (command !== undefined && command !== null) body.command = command;
      return (await json('POST', 'api/sessions', body, 201)).session;
    },
    /** GET api/sessions/ID: the session object. */
    async get(id) {
      return (await json('GET', `api/sessions/${id}`, undefined, 200)).session;
    },
    /** GET api/sessions[?status=S]: the list, newest first. */
    async list(status) {
      const q = status ? `?status=${encodeURIComponent(status)}` : '';
      return (await json('GET', `api/sessions${q}`, undefined, 200)).sessions;
    },
    /** Raw bytes written to the terminal (not JSON). */
    async input(id, data) {
      const r = await call('POST', `api/sessions/${id}/input`, data, {
        'content-type': 'application/octet-stream',
      });
      if (r.status !== 204) throw new Error(`input: ${r.status} ${await r.text()}`);
    },
    async stop(id, signal) {
      return (await json('POST', `api/sessions/${id}/stop`, signal ? { signal } : {}, 202)).session;
    },
    /** GET api/sessions/ID/output?format=text|raw as a string. */
    async output(id, format = 'text') {
      const r = await call('GET', `api/sessions/${id}/output?format=${format}`);
      const text = await r.text();
      if (r.status !== 200) throw new Error(`output: ${r.status} ${text}`);
      return text;
    },
    /** Polls GET api/sessions/ID until pred(session) is true; returns that session. */
    async waitFor(id, pred, { timeout = 15_000, interval = 50, what = 'condition' } = {}) {
      const deadline = Date.now() + timeout;
      let s;
      for (;;) {
        s = await api.get(id);
        if (pred(s)) return s;
        if (Date.now() > deadline) {
          throw new Error(`session ${id}: ${what} not reached within ${timeout} ms; last: ${JSON.stringify(s)}`);
        }
        await new Promise((r) => setTimeout(r, interval));
      }
    },
    /** Waits until the session has ended (status not running). */
    async waitEnded(id, opts = {}) {
      return api.waitFor(id, (s) => s.status !== 'running', { what: 'end', ...opts });
    },
  };
  return api;
}
