// lanterm browser UI: the session list and the terminal view (see docs/UI.md).
// Plain ES modules, bundled by build.mjs with xterm.js and its addons.

import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Unicode11Addon } from '@xterm/addon-unicode11';

// ---------------------------------------------------------------- helpers

const $ = (sel) => document.querySelector(sel);
const encoder = new TextEncoder();

const FONT_FAMILY =
  'ui-monospace, "SF Mono", "Cascadia Mono", Menlo, Monaco, Consolas, "DejaVu Sans Mono", ' +
  '"Liberation Mono", "Noto Sans Mono", "Droid Sans Mono", "Ubuntu Mono", monospace';
const MIN_FONT = 10;
const MAX_FONT = 32;
const SCROLLBAR = 14; // what the fit addon keeps free on the right

const THEME = {
  background: '#0d1117',
  foreground: '#e6edf3',
  cursor: '#e6edf3',
  cursorAccent: '#0d1117',
  selectionBackground: '#2f5d8a',
  selectionInactiveBackground: '#2a3442',
  black: '#484f58',
  red: '#ff7b72',
  green: '#3fb950',
  yellow: '#d29922',
  blue: '#58a6ff',
  magenta: '#bc8cff',
  cyan: '#39c5cf',
  white: '#b1bac4',
  brightBlack: '#6e7681',
  brightRed: '#ffa198',
  brightGreen: '#56d364',
  brightYellow: '#e3b341',
  brightBlue: '#79c0ff',
  brightMagenta: '#d2a8ff',
  brightCyan: '#56d4dd',
  brightWhite: '#f0f6fc',
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Every URL is relative to the page, so the UI works under a reverse proxy's sub-path.
async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'cannot reach the lanterm service');
  }
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error;
    const message = (err && err.message) || `${res.status} ${res.statusText || 'error'}`.trim();
    throw new ApiError(res.status, (err && err.code) || 'http', message);
  }
  return data;
}

const sessionPath = (id) => `api/sessions/${encodeURIComponent(id)}`;

function fmtBytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function fmtAgo(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 10) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

const parseTime = (t) => (t ? Date.parse(t) : NaN);

// `running`, `completed (0)`, `failed (3)`, `stopped (signal TERM)`, `lost`
function statusText(s) {
  if (s.status === 'running') return 'running';
  if (s.exit_signal) return `${s.status} (signal ${s.exit_signal})`;
  if (s.exit_code !== null && s.exit_code !== undefined) return `${s.status} (${s.exit_code})`;
  return s.status;
}

// For the terminal view's status line once the process has ended.
function exitText(s) {
  if (!s) return 'ended';
  if (s.exit_signal) return `ended by signal ${s.exit_signal}`;
  if (s.exit_code !== null && s.exit_code !== undefined) return `exited with code ${s.exit_code}`;
  if (s.status === 'lost') return 'lost (the service restarted)';
  return `ended (${s.status})`;
}

let toastTimer = 0;
function toast(text, ms = 2500) {
  const el = $('#toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, ms);
}

const isTouch = () => window.matchMedia('(pointer: coarse)').matches;

// Width of one monospace cell and height of one line, per pixel of font size.
let fontMetrics = null;
function metrics() {
  if (fontMetrics) return fontMetrics;
  let w = 0.6;
  let h = 1.18;
  try {
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `100px ${FONT_FAMILY}`;
    const m = ctx.measureText('W');
    if (m.width > 0) w = m.width / 100;
    if (m.fontBoundingBoxAscent) h = (m.fontBoundingBoxAscent + m.fontBoundingBoxDescent) / 100;
  } catch {
    /* keep the defaults */
  }
  fontMetrics = { w, h };
  return fontMetrics;
}

function storedFontSize() {
  const v = Number(localStorage.getItem('lanterm.fontSize'));
  return Number.isFinite(v) && v >= MIN_FONT - 2 && v <= MAX_FONT ? v : 0;
}

function baseFontSize() {
  return storedFontSize() || (isTouch() ? 13 : 14);
}

// The largest font size (at most the base size, at least 10 px) that fits `cols` columns.
function fontFor(width, cols, base) {
  const fit = Math.floor(((width - SCROLLBAR - 2) / (cols * metrics().w)) * 2) / 2;
  return Math.max(Math.min(base, fit), Math.min(base, MIN_FONT));
}

async function copyText(text) {
  if (!text) return false;
  if (window.isSecureContext && navigator.clipboard && navigator.clipboard.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      /* fall back to execCommand below */
    }
  }
  const active = document.activeElement;
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.cssText = 'position:fixed;top:0;left:0;width:1px;height:1px;opacity:0;';
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  if (active && active.focus) active.focus({ preventScroll: true });
  return ok;
}

// Keep the app as tall as the visible part of the page (a phone's keyboard shrinks it).
function trackViewport() {
  const vv = window.visualViewport;
  const apply = () => {
    const h = vv ? vv.height : window.innerHeight;
    document.documentElement.style.setProperty('--app-h', `${Math.round(h)}px`);
    document.documentElement.style.setProperty('--app-top', `${vv ? Math.round(vv.offsetTop) : 0}px`);
  };
  apply();
  (vv || window).addEventListener('resize', apply);
  if (vv) vv.addEventListener('scroll', apply);
}

// ---------------------------------------------------------------- sticky modifiers

const mods = { ctrl: false, alt: false };

function syncModButtons() {
  for (const key of ['ctrl', 'alt']) {
    const b = document.querySelector(`#keybar [data-key="${key}"]`);
    if (!b) continue;
    b.classList.toggle('active', mods[key]);
    b.setAttribute('aria-pressed', String(mods[key]));
  }
}

function ctrlChar(ch) {
  const c = ch.charCodeAt(0);
  if (c >= 0x61 && c <= 0x7a) return String.fromCharCode(c - 0x60); // a-z
  if (c >= 0x40 && c <= 0x5f) return String.fromCharCode(c - 0x40); // @ A-Z [ \ ] ^ _
  const map = {
    ' ': '\x00', 2: '\x00', 3: '\x1b', 4: '\x1c', 5: '\x1d', 6: '\x1e', 7: '\x1f', 8: '\x7f',
    '?': '\x7f', '/': '\x1f', '-': '\x1f', '~': '\x1e', '|': '\x1c', '`': '\x00',
  };
  return map[ch] ?? null;
}

// Applies (and disarms) the sticky modifiers to the next key's data.
function applyMods(data) {
  const { ctrl, alt } = mods;
  if (!ctrl && !alt) return data;
  mods.ctrl = false;
  mods.alt = false;
  syncModButtons();
  // cursor and Home/End keys take a modifier parameter: CSI 1;5A
  const m = /^\x1b[[O]([ABCDHF])$/.exec(data);
  if (m) return `\x1b[1;${1 + (alt ? 2 : 0) + (ctrl ? 4 : 0)}${m[1]}`;
  let out = data;
  if (ctrl && data.length >= 1) {
    const cc = ctrlChar(data[0]);
    if (cc !== null) out = cc + data.slice(1);
  }
  return alt ? `\x1b${out}` : out;
}

// ---------------------------------------------------------------- router

function parseRoute() {
  const h = location.hash.replace(/^#/, '');
  const m = /^\/s\/([^/?]+)\/?(?:\?(.*))?$/.exec(h);
  if (m) {
    const q = new URLSearchParams(m[2] || '');
    const ro = q.get('ro');
    let id = m[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      /* keep it */
    }
    return { view: 'term', id, ro: ro === '1' || ro === 'true' };
  }
  return { view: 'list' };
}

const termHash = (id, ro) => `#/s/${encodeURIComponent(id)}${ro ? '?ro=1' : ''}`;

let termView = null;

function route() {
  const r = parseRoute();
  closeMenu();
  if (r.view === 'term') {
    listView.hide();
    $('#list-view').hidden = true;
    $('#term-view').hidden = false;
    if (termView && termView.id === r.id && !termView.destroyed) {
      termView.setMode(r.ro);
    } else {
      if (termView) termView.destroy();
      termView = new TermView(r.id, r.ro);
    }
  } else {
    if (termView) {
      termView.destroy();
      termView = null;
    }
    $('#term-view').hidden = true;
    $('#list-view').hidden = false;
    document.title = 'lanterm';
    listView.show();
  }
}

// For tests and debugging; null-safe outside the terminal view.
window.lanterm = {
  get term() {
    return termView ? termView.term : null;
  },
  offset() {
    return termView ? termView.received : null;
  },
  state() {
    return termView ? termView.state : null;
  },
};

// ---------------------------------------------------------------- list view

const listView = {
  active: false,
  sessions: new Map(), // id -> session object
  order: [], // ids, newest first
  seen: new Map(), // id -> { bytes, at }: when we saw output_bytes change
  es: null,
  esRetry: 0,
  esBackoff: 1000,
  listing: false,
  relistAgain: false,
  pending: null,
  pollTimer: 0,
  tickTimer: 0,
  openFallback: 0,
  busy: new Map(), // id -> 'stopping' | 'deleting'

  show() {
    if (this.active) return;
    this.active = true;
    this.openEvents();
    this.relist();
    this.pollTimer = setInterval(() => {
      if (document.visibilityState === 'visible') this.relist();
    }, 10000);
    this.tickTimer = setInterval(() => this.render(), 15000);
    this.loadFooter();
  },

  hide() {
    if (!this.active) return;
    this.active = false;
    clearInterval(this.pollTimer);
    clearInterval(this.tickTimer);
    clearTimeout(this.esRetry);
    if (this.es) this.es.close();
    this.es = null;
    this.setLive('off');
  },

  setLive(state) {
    const el = $('#live');
    el.dataset.state = state;
    const text = { live: 'live', connecting: 'connecting', reconnecting: 'reconnecting', off: 'not live' }[state] || state;
    el.title = `live updates: ${text}`;
  },

  openEvents() {
    if (!this.active) return;
    let es;
    try {
      es = new EventSource('api/events');
    } catch {
      this.scheduleEvents();
      return;
    }
    this.es = es;
    this.setLive('connecting');
    es.onopen = () => {
      this.esBackoff = 1000;
      this.setLive('live');
      // Subscribed: now the list can be taken without missing a change.
      this.relist();
    };
    es.onerror = () => {
      if (es !== this.es) return;
      if (es.readyState === EventSource.CLOSED) {
        // refused (e.g. 429 or 401): EventSource gives up, so retry by hand
        this.es = null;
        this.setLive('off');
        this.scheduleEvents();
      } else {
        this.setLive('reconnecting');
      }
    };
    for (const type of ['session.created', 'session.updated', 'session.exited', 'session.deleted']) {
      es.addEventListener(type, (ev) => {
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        this.onEvent(type, data);
      });
    }
    es.addEventListener('lagged', () => this.relist());
  },

  scheduleEvents() {
    clearTimeout(this.esRetry);
    if (!this.active) return;
    this.esRetry = setTimeout(() => this.openEvents(), this.esBackoff);
    this.esBackoff = Math.min(this.esBackoff * 2, 30000);
  },

  onEvent(type, data) {
    if (this.listing) this.pending.push([type, data]);
    this.apply(type, data);
    this.render();
  },

  apply(type, data) {
    if (!data || !data.id) return;
    if (type === 'session.deleted') {
      this.sessions.delete(data.id);
      this.order = this.order.filter((id) => id !== data.id);
      this.seen.delete(data.id);
      this.busy.delete(data.id);
      return;
    }
    const known = this.sessions.get(data.id);
    // an ended session never runs again: a late snapshot must not bring it back
    if (known && known.status !== 'running' && data.status === 'running') return;
    this.note(data);
    if (!known) {
      if (type === 'session.created') this.order.unshift(data.id);
      else this.insertByTime(data);
    }
    this.sessions.set(data.id, data);
    if (data.status !== 'running' && this.busy.get(data.id) === 'stopping') this.busy.delete(data.id);
  },

  insertByTime(s) {
    const t = parseTime(s.created_at);
    const i = this.order.findIndex((id) => {
      const o = this.sessions.get(id);
      return o && parseTime(o.created_at) < t;
    });
    if (i < 0) this.order.push(s.id);
    else this.order.splice(i, 0, s.id);
  },

  // Remember when a session's output last grew (the API has no such field).
  note(s) {
    const prev = this.seen.get(s.id);
    if (!prev) {
      this.seen.set(s.id, { bytes: s.output_bytes, at: s.status === 'running' ? NaN : parseTime(s.ended_at) });
    } else if (s.output_bytes !== prev.bytes) {
      this.seen.set(s.id, { bytes: s.output_bytes, at: Date.now() });
    }
  },

  async relist() {
    if (!this.active) return;
    if (this.listing) {
      this.relistAgain = true;
      return;
    }
    this.listing = true;
    this.pending = [];
    try {
      const data = await api('GET', 'api/sessions');
      const list = (data && data.sessions) || [];
      this.sessions = new Map();
      this.order = [];
      for (const s of list) {
        this.note(s);
        this.sessions.set(s.id, s);
        this.order.push(s.id);
      }
      for (const id of [...this.seen.keys()]) if (!this.sessions.has(id)) this.seen.delete(id);
      // events that arrived while the list was on its way
      for (const [type, ev] of this.pending) this.apply(type, ev);
      this.showError(null);
    } catch (e) {
      this.showError(e.status === 401 ? 'This service needs a login, which this page does not support yet.' : e.message);
    } finally {
      this.listing = false;
      this.pending = null;
      this.render();
    }
    if (this.relistAgain) {
      this.relistAgain = false;
      this.relist();
    }
  },

  showError(msg) {
    const el = $('#list-error');
    el.hidden = !msg;
    el.textContent = msg || '';
  },

  async loadFooter() {
    try {
      const h = await api('GET', 'api/health');
      const parts = ['lanterm'];
      if (h.version) parts[0] += ` ${h.version}`;
      if (h.database && h.database.ok === false) parts.push('database not writable');
      $('#footer').textContent = parts.join(' · ');
    } catch {
      $('#footer').textContent = 'lanterm';
    }
  },

  render() {
    if (!this.active) return;
    const ul = $('#sessions');
    const existing = new Map();
    for (const li of ul.children) existing.set(li.dataset.id, li);
    const now = Date.now();
    let prev = null;
    for (const id of this.order) {
      const s = this.sessions.get(id);
      if (!s) continue;
      let li = existing.get(id);
      if (li) existing.delete(id);
      else li = this.createItem(id);
      this.fillItem(li, s, now);
      const want = prev ? prev.nextSibling : ul.firstChild;
      if (want !== li) ul.insertBefore(li, want);
      prev = li;
    }
    for (const li of existing.values()) li.remove();
    $('#empty').hidden = this.order.length > 0 || this.listing;
  },

  createItem(id) {
    const li = document.createElement('li');
    li.className = 'session';
    li.dataset.id = id;
    li.innerHTML =
      '<div class="s-head"><a class="name"></a><span class="status"></span></div>' +
      '<div class="s-meta">' +
      '<span class="command"></span>' +
      '<span class="user" title="user"></span>' +
      '<span class="age"></span>' +
      '<span class="last-output"></span>' +
      '<span class="clients"></span>' +
      '</div>' +
      '<div class="s-actions">' +
      '<button type="button" class="btn open primary">Open</button>' +
      '<button type="button" class="btn rename">Rename</button>' +
      '<button type="button" class="btn stop">Stop</button>' +
      '<button type="button" class="btn delete danger">Delete</button>' +
      '</div>';
    li.querySelector('.name').href = termHash(id, false);
    li.querySelector('.open').addEventListener('click', () => {
      location.hash = termHash(id, false);
    });
    li.querySelector('.rename').addEventListener('click', () => this.rename(id));
    li.querySelector('.stop').addEventListener('click', () => this.stop(id));
    li.querySelector('.delete').addEventListener('click', () => this.remove(id));
    return li;
  },

  fillItem(li, s, now) {
    const set = (sel, text, title) => {
      const el = li.querySelector(sel);
      if (el.textContent !== text) el.textContent = text;
      if (title !== undefined && el.title !== title) el.title = title;
    };
    li.dataset.status = s.status;
    set('.name', s.name || s.id, `open ${s.name || s.id}`);
    set('.status', statusText(s));
    li.querySelector('.status').dataset.status = s.status;
    set('.command', s.command === null || s.command === undefined ? 'login shell' : s.command, s.cwd ? `in ${s.cwd}` : '');
    set('.user', s.user || '');
    const created = parseTime(s.created_at);
    set('.age', Number.isNaN(created) ? '' : `started ${fmtAgo(now - created)}`, s.created_at || '');
    const seen = this.seen.get(s.id);
    let last = fmtBytes(s.output_bytes);
    if (seen && !Number.isNaN(seen.at)) last += `, ${fmtAgo(now - seen.at)}`;
    set('.last-output', `output ${last}`, `${s.output_bytes} bytes of output`);
    set('.clients', `${s.clients} ${s.clients === 1 ? 'client' : 'clients'}`);
    const busy = this.busy.get(s.id);
    const stop = li.querySelector('.stop');
    stop.disabled = s.status !== 'running' || busy === 'stopping' || busy === 'deleting';
    stop.textContent = busy === 'stopping' ? 'Stopping…' : 'Stop';
    const del = li.querySelector('.delete');
    del.disabled = busy === 'deleting';
    del.textContent = busy === 'deleting' ? 'Deleting…' : 'Delete';
  },

  async rename(id) {
    const s = this.sessions.get(id);
    const name = window.prompt('New name for the session', s ? s.name : '');
    if (name === null) return;
    if (s && name === s.name) return;
    try {
      const data = await api('PATCH', sessionPath(id), { name });
      if (data && data.session) this.apply('session.updated', data.session);
      this.showError(null);
    } catch (e) {
      this.showError(`Rename failed: ${e.message}`);
    }
    this.render();
  },

  async stop(id) {
    this.busy.set(id, 'stopping');
    this.render();
    try {
      // the answer is usually still `running`; `session.exited` brings the end
      await api('POST', `${sessionPath(id)}/stop`);
      this.showError(null);
    } catch (e) {
      this.busy.delete(id);
      this.showError(`Stop failed: ${e.message}`);
    }
    this.render();
  },

  async remove(id) {
    const s = this.sessions.get(id);
    const label = s ? `“${s.name}”` : 'this session';
    const running = s && s.status === 'running';
    const question = running
      ? `Stop and delete ${label}? Its process ends and its output is removed.`
      : `Delete ${label} and its stored output?`;
    if (!window.confirm(question)) return;
    this.busy.set(id, 'deleting');
    this.render();
    try {
      await api('DELETE', sessionPath(id));
      this.apply('session.deleted', { id });
      this.showError(null);
    } catch (e) {
      this.busy.delete(id);
      if (e.status === 404) this.apply('session.deleted', { id });
      else this.showError(`Delete failed: ${e.message}`);
    }
    this.render();
  },
};

// ---------------------------------------------------------------- create form

function setupCreateForm() {
  const form = $('#create-form');
  const btn = $('#new-session');
  const err = $('#form-error');
  const open = (yes) => {
    form.hidden = !yes;
    btn.setAttribute('aria-expanded', String(yes));
    err.hidden = true;
    if (yes) $('#f-name').focus();
  };
  btn.addEventListener('click', () => open(form.hidden));
  $('#f-cancel').addEventListener('click', () => open(false));
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') open(false);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {};
    for (const f of ['name', 'command', 'cwd', 'user']) {
      const v = $(`#f-${f}`).value;
      if (v.trim() !== '') body[f] = f === 'command' ? v : v.trim();
    }
    Object.assign(body, estimateSize());
    const submit = $('#f-submit');
    submit.disabled = true;
    err.hidden = true;
    try {
      const data = await api('POST', 'api/sessions', body);
      const s = data && data.session;
      if (!s || !s.id) throw new ApiError(0, 'internal', 'the service answered without a session');
      form.reset();
      open(false);
      location.hash = termHash(s.id, false);
    } catch (e2) {
      err.textContent = e2.message;
      err.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
}

// The terminal size the new session will most likely get, so its first prompt fits.
function estimateSize() {
  const w = document.documentElement.clientWidth || window.innerWidth;
  const h = window.visualViewport ? window.visualViewport.height : window.innerHeight;
  const size = fontFor(w - 6, 80, baseFontSize());
  const m = metrics();
  const bars = 44 + (isTouch() ? 46 : 34);
  const cols = Math.floor((w - 6 - SCROLLBAR) / (size * m.w));
  const rows = Math.floor((h - bars - 4) / Math.ceil(size * m.h));
  const clamp = (v) => Math.max(1, Math.min(1000, v));
  if (!(cols > 0 && rows > 0)) return {};
  return { cols: clamp(cols), rows: clamp(rows) };
}

// ---------------------------------------------------------------- terminal view

class TermView {
  constructor(id, ro) {
    this.id = id;
    this.ro = ro;
    this.destroyed = false;
    this.state = 'connecting';
    this.received = null; // offset received up to (null before the first `attached`)
    this.rendered = 0; // offset rendered up to
    this.acked = 0;
    this.ackTimer = 0;
    this.ws = null;
    this.gen = 0;
    this.attached = false;
    this.ended = false;
    this.backoff = 250;
    this.retryTimer = 0;
    this.session = null;
    this.serverSize = null;
    this.replayTarget = 0;
    this.replaying = false;
    this.redrawSent = true;
    this.layoutQueued = false;
    this.disposers = [];

    this.el = $('#terminal');
    this.el.textContent = '';
    const term = new Terminal({
      allowProposedApi: true,
      fontFamily: FONT_FAMILY,
      fontSize: baseFontSize(),
      scrollback: 5000,
      cursorBlink: true,
      theme: THEME,
      rightClickSelectsWord: false,
      smoothScrollDuration: 0,
      disableStdin: ro,
    });
    this.term = term;
    this.fit = new FitAddon();
    term.loadAddon(this.fit);
    term.loadAddon(new WebLinksAddon());
    term.loadAddon(new Unicode11Addon());
    term.unicode.activeVersion = '11';
    term.open(this.el);

    term.onData((data) => this.onInput(data));
    term.onBinary((data) => {
      if (this.ro || this.ended) return;
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      this.send(bytes);
    });
    term.attachCustomKeyEventHandler((e) => this.onKey(e));
    this.suppressReplayQueries();

    this.applyModeUi();
    this.updateDownload();
    this.setState('connecting', 'connecting…');

    // layout: window, the terminal's box, and the fonts
    const observer = new ResizeObserver(() => this.queueLayout());
    observer.observe(this.el);
    this.disposers.push(() => observer.disconnect());
    const onResize = () => this.queueLayout();
    window.addEventListener('resize', onResize);
    this.disposers.push(() => window.removeEventListener('resize', onResize));
    if (document.fonts && document.fonts.ready) document.fonts.ready.then(() => this.queueLayout());

    // come back quickly after the network or the phone wakes up
    const wake = () => {
      if (this.destroyed || this.ended || this.ws || document.visibilityState !== 'visible') return;
      this.backoff = 250;
      this.connect();
    };
    window.addEventListener('online', wake);
    document.addEventListener('visibilitychange', wake);
    this.disposers.push(() => {
      window.removeEventListener('online', wake);
      document.removeEventListener('visibilitychange', wake);
    });

    this.disposers.push(setupTouchScroll(this.el, term));

    this.layout();
    term.focus();
    this.connect();
  }

  destroy() {
    this.destroyed = true;
    this.gen++;
    clearTimeout(this.retryTimer);
    clearTimeout(this.ackTimer);
    if (this.ws) {
      try {
        this.ws.close(1000, 'bye');
      } catch {
        /* ignore */
      }
    }
    this.ws = null;
    for (const d of this.disposers) d();
    this.term.dispose();
    this.el.textContent = '';
    mods.ctrl = mods.alt = false;
    syncModButtons();
  }

  // Replayed output may hold a program's terminal queries (cursor position, device
  // attributes, colours); answering them again would type the answers into the shell.
  suppressReplayQueries() {
    const p = this.term.parser;
    const swallow = () => this.replaying;
    const csi = [
      { final: 'c' }, { prefix: '>', final: 'c' }, { prefix: '=', final: 'c' },
      { final: 'n' }, { prefix: '?', final: 'n' },
      { intermediates: '$', final: 'p' }, { prefix: '?', intermediates: '$', final: 'p' },
      { prefix: '>', final: 'q' }, { final: 't' }, { prefix: '?', final: 'u' },
    ];
    for (const id of csi) p.registerCsiHandler(id, swallow);
    p.registerDcsHandler({ intermediates: '$', final: 'q' }, swallow);
    p.registerDcsHandler({ intermediates: '+', final: 'q' }, swallow);
    for (const n of [4, 10, 11, 12, 17, 19, 52]) {
      p.registerOscHandler(n, (data) => this.replaying && data.includes('?'));
    }
  }

  setMode(ro) {
    if (ro === this.ro) return;
    this.ro = ro;
    this.term.options.disableStdin = ro || this.ended;
    this.applyModeUi();
    this.queueLayout();
    if (this.ended) return;
    // reattach in the new mode from the offset we hold
    this.gen++;
    clearTimeout(this.retryTimer);
    if (this.ws) {
      try {
        this.ws.close(1000, 'bye');
      } catch {
        /* ignore */
      }
    }
    this.ws = null;
    this.attached = false;
    this.backoff = 250;
    this.setState('connecting', 'connecting…');
    this.connect();
  }

  applyModeUi() {
    const view = $('#term-view');
    view.classList.toggle('ro', this.ro);
    $('#mode').hidden = !this.ro;
    $('#mode').textContent = this.ro ? 'read-only' : '';
    const t = $('#ro-toggle');
    t.setAttribute('aria-pressed', String(this.ro));
    t.title = this.ro ? 'Read-only: switch to read-write' : 'Switch to read-only viewing (a shareable link)';
    t.classList.toggle('active', this.ro);
    $('#keybar').hidden = this.ro || this.ended;
  }

  updateDownload() {
    const a = $('#download');
    a.href = `${sessionPath(this.id)}/output?format=text`;
    const name = ((this.session && this.session.name) || this.id).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
    a.setAttribute('download', `lanterm-${name || this.id}.txt`);
  }

  setState(state, text) {
    this.state = state;
    const el = $('#status');
    el.dataset.state = state;
    el.textContent = text;
  }

  // ------------------------------------------------------------ connection

  connect() {
    if (this.destroyed || this.ended) return;
    clearTimeout(this.retryTimer);
    const gen = ++this.gen;
    const q = new URLSearchParams();
    if (this.received !== null) q.set('from', String(this.received));
    q.set('mode', this.ro ? 'ro' : 'rw');
    const url = new URL(`${sessionPath(this.id)}/attach?${q}`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    let ws;
    try {
      ws = new WebSocket(url.href);
    } catch {
      this.retry();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.attached = false;
    ws.onmessage = (ev) => {
      if (gen === this.gen) this.onMessage(ev);
    };
    ws.onclose = (ev) => {
      if (gen === this.gen) this.onClose(ev);
    };
  }

  onMessage(ev) {
    if (typeof ev.data === 'string') {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onControl(msg);
      return;
    }
    if (!this.attached) return;
    const bytes = new Uint8Array(ev.data);
    if (bytes.length === 0) return;
    this.received += bytes.length;
    const end = this.received;
    this.term.write(bytes, () => this.onRendered(end));
  }

  onControl(msg) {
    switch (msg.type) {
      case 'attached':
        this.onAttached(msg);
        break;
      case 'gap': {
        if (!this.attached) return;
        const n = msg.to - msg.from;
        this.received = msg.to;
        const end = this.received;
        this.term.write(`\r\n\x1b[2m[… ${n} bytes not kept …]\x1b[22m\r\n`, () => this.onRendered(end));
        break;
      }
      case 'resized':
        this.serverSize = { cols: msg.cols, rows: msg.rows };
        if (this.session) {
          this.session.cols = msg.cols;
          this.session.rows = msg.rows;
        }
        if (this.ro) this.queueLayout();
        break;
      case 'exit':
        this.session = msg.session || this.session;
        this.ended = true;
        this.term.options.disableStdin = true;
        this.applyModeUi();
        this.setState('exited', exitText(this.session));
        break;
      case 'error':
        toast(`${msg.code ? `${msg.code}: ` : ''}${msg.message || 'error'}`, 4000);
        break;
      default:
        break;
    }
  }

  onAttached(msg) {
    const s = msg.session || {};
    const first = this.received === null;
    const offset = Number(msg.offset) || 0;
    if (!first && offset > this.received) {
      const n = offset - this.received;
      this.term.write(`\r\n\x1b[2m[… ${n} bytes not kept …]\x1b[22m\r\n`);
    }
    this.received = offset;
    if (first || this.rendered > offset) this.rendered = offset;
    this.attached = true;
    this.backoff = 250;
    this.session = s;
    this.serverSize = s.cols && s.rows ? { cols: s.cols, rows: s.rows } : null;
    $('#term-name').textContent = s.name || this.id;
    $('#term-name').title = s.command ? s.command : 'login shell';
    document.title = `${s.name || this.id} · lanterm`;
    this.updateDownload();
    if (s.status && s.status !== 'running') {
      this.setState('connected', 'replaying…');
    } else {
      this.setState('connected', 'connected');
    }
    // after the replay, ask the server to make full-screen programs repaint
    this.replayTarget = Number(s.output_bytes) || 0;
    this.redrawSent = false;
    this.replaying = this.replayTarget > this.rendered;
    this.layout();
    if (!this.replaying) this.redraw();
  }

  onRendered(end) {
    if (end > this.rendered) this.rendered = end;
    this.scheduleAck();
    if (!this.redrawSent && this.rendered >= this.replayTarget) {
      this.replaying = false;
      this.redraw();
    }
  }

  redraw() {
    this.replaying = false;
    if (this.redrawSent) return;
    this.redrawSent = true;
    if (this.session && this.session.status === 'running' && !this.ended) this.sendJson({ type: 'redraw' });
  }

  scheduleAck() {
    if (!this.isOpen()) return;
    if (this.rendered - this.acked >= 65536) {
      this.sendAck();
    } else if (!this.ackTimer && this.rendered > this.acked) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = 0;
        this.sendAck();
      }, 50);
    }
  }

  sendAck() {
    clearTimeout(this.ackTimer);
    this.ackTimer = 0;
    if (this.rendered <= this.acked || !this.isOpen()) return;
    this.acked = this.rendered;
    this.sendJson({ type: 'ack', offset: this.rendered });
  }

  onClose(ev) {
    clearTimeout(this.ackTimer);
    this.ackTimer = 0;
    this.ws = null;
    const wasAttached = this.attached;
    this.attached = false;
    if (this.destroyed || this.ended) return;
    this.setWaiting();
    $('#status').title = ev && ev.code ? `connection closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})` : '';
    if (wasAttached) this.retry();
    else this.diagnose();
  }

  // The attach was refused before it started: find out why (the WebSocket API hides it).
  async diagnose() {
    const gen = this.gen;
    try {
      const data = await api('GET', sessionPath(this.id));
      const s = data && data.session;
      if (s && this.received !== null && s.output_bytes < this.received) {
        // the service lost output we had already shown; continue from what it has
        this.received = s.output_bytes;
        this.rendered = Math.min(this.rendered, this.received);
        this.acked = Math.min(this.acked, this.received);
      }
    } catch (e) {
      if (gen !== this.gen || this.destroyed) return;
      if (e.status === 404) {
        this.ended = true;
        this.term.options.disableStdin = true;
        this.applyModeUi();
        this.setState('exited', 'session not found');
        return;
      }
      if (e.status === 401) $('#status').title = 'the service needs a login';
    }
    if (gen !== this.gen || this.destroyed) return;
    this.retry();
  }

  retry() {
    if (this.destroyed || this.ended) return;
    clearTimeout(this.retryTimer);
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 5000);
    this.setWaiting();
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // `connecting` until the first attach succeeds, `reconnecting` after a loss
  setWaiting() {
    if (this.received === null) this.setState('connecting', 'connecting…');
    else this.setState('reconnecting', 'reconnecting…');
  }

  isOpen() {
    return this.ws && this.ws.readyState === WebSocket.OPEN && this.attached;
  }

  send(bytes) {
    if (this.isOpen()) this.ws.send(bytes);
  }

  sendJson(obj) {
    if (this.isOpen()) this.ws.send(JSON.stringify(obj));
  }

  // ------------------------------------------------------------ input

  onInput(data, fromPaste = false) {
    if (this.ro || this.ended) return;
    const out = fromPaste ? data : applyMods(data);
    // this device types: its size wins again (the last resize wins, whoever sent it)
    this.sendResize();
    this.send(encoder.encode(out));
  }

  sendKey(key) {
    if (this.ro || this.ended) return;
    const app = this.term.modes.applicationCursorKeysMode;
    const arrows = { up: 'A', down: 'B', right: 'C', left: 'D' };
    let data;
    if (arrows[key]) data = `\x1b${app ? 'O' : '['}${arrows[key]}`;
    else if (key === 'esc') data = '\x1b';
    else if (key === 'tab') data = '\t';
    else data = key;
    this.term.scrollToBottom();
    this.onInput(data);
  }

  onKey(e) {
    const k = e.key ? e.key.toLowerCase() : '';
    if (e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey && (k === 'c' || k === 'v')) {
      if (e.type === 'keydown') {
        if (k === 'c') {
          e.preventDefault(); // Ctrl+Shift+C would open the browser's inspector
          this.copySelection();
        }
        // Ctrl+Shift+V: let the browser's paste event reach xterm (works on plain http too)
      }
      return false;
    }
    return true;
  }

  async copySelection(fallback = '') {
    const text = this.term.getSelection() || fallback;
    if (!text) {
      toast('Nothing selected');
      return;
    }
    toast((await copyText(text)) ? 'Copied' : 'Copy failed: the browser refused');
  }

  async paste() {
    if (this.ro || this.ended) {
      toast('Read-only: pasting is off');
      return;
    }
    if (window.isSecureContext && navigator.clipboard && navigator.clipboard.readText) {
      try {
        const text = await navigator.clipboard.readText();
        if (text) this.term.paste(text);
        return;
      } catch {
        /* fall back to the dialog */
      }
    }
    openPasteDialog((text) => {
      if (text && !this.destroyed) this.term.paste(text);
    });
  }

  // ------------------------------------------------------------ size

  queueLayout() {
    if (this.layoutQueued) return;
    this.layoutQueued = true;
    requestAnimationFrame(() => {
      this.layoutQueued = false;
      if (!this.destroyed) this.layout();
    });
  }

  layout() {
    if (this.destroyed) return;
    const width = this.el.clientWidth;
    const height = this.el.clientHeight;
    if (!width || !height) return;
    const base = baseFontSize();
    if (this.ro && this.serverSize) {
      // read-only: the terminal has the session's size; shrink the font to show it whole
      const { cols, rows } = this.serverSize;
      let size = fontFor(width, cols, base);
      const byHeight = Math.floor((height / (rows * metrics().h)) * 2) / 2;
      size = Math.max(Math.min(size, byHeight), Math.min(base, MIN_FONT));
      if (this.term.options.fontSize !== size) this.term.options.fontSize = size;
      if (this.term.cols !== cols || this.term.rows !== rows) this.term.resize(cols, rows);
      return;
    }
    const size = fontFor(width, 80, base);
    if (this.term.options.fontSize !== size) this.term.options.fontSize = size;
    try {
      this.fit.fit();
    } catch {
      return;
    }
    if (!this.ro) this.sendResize();
  }

  sendResize() {
    if (this.ro || this.ended || !this.isOpen()) return;
    const { cols, rows } = this.term;
    if (this.serverSize && this.serverSize.cols === cols && this.serverSize.rows === rows) return;
    this.serverSize = { cols, rows };
    this.sendJson({ type: 'resize', cols, rows });
  }

  changeFont(delta) {
    const cur = this.term.options.fontSize;
    const next = Math.max(MIN_FONT - 2, Math.min(MAX_FONT, Math.round(cur + delta)));
    localStorage.setItem('lanterm.fontSize', String(next));
    this.layout();
    toast(`${next} px`, 1000);
  }
}

// ---------------------------------------------------------------- touch scrolling

// xterm.js 6.0.0 has no touch scrolling of its own (its new scrollable viewport only takes
// wheel events), so a one-finger drag is turned into scrolling here, with some momentum.
// In the normal buffer it scrolls the scrollback; in the alternate screen or when the
// program wants the mouse, it becomes wheel events that xterm passes on to the program.
function setupTouchScroll(el, term) {
  let lastY = null;
  let lastT = 0;
  let acc = 0;
  let velocity = 0; // px per ms, positive when the finger moves down
  let raf = 0;

  const lineHeight = () => {
    const screen = term.element && term.element.querySelector('.xterm-screen');
    const h = screen ? screen.getBoundingClientRect().height / term.rows : 0;
    return h > 0 ? h : 16;
  };
  const scroll = (px, x, y) => {
    acc += px;
    const lh = lineHeight();
    const lines = Math.trunc(acc / lh);
    if (!lines) return;
    acc -= lines * lh;
    const buf = term.buffer.active;
    if (buf.type === 'normal' && term.modes.mouseTrackingMode === 'none') {
      term.scrollLines(-lines);
    } else if (term.element) {
      term.element.dispatchEvent(
        new WheelEvent('wheel', {
          deltaY: -lines, deltaMode: WheelEvent.DOM_DELTA_LINE, clientX: x, clientY: y,
          bubbles: true, cancelable: true,
        }),
      );
    }
  };
  const stopMomentum = () => {
    cancelAnimationFrame(raf);
    raf = 0;
  };
  const onStart = (e) => {
    stopMomentum();
    if (e.touches.length !== 1) {
      lastY = null;
      return;
    }
    lastY = e.touches[0].clientY;
    lastT = performance.now();
    acc = 0;
    velocity = 0;
  };
  const onMove = (e) => {
    if (lastY === null || e.touches.length !== 1) return;
    const t = e.touches[0];
    const now = performance.now();
    const dy = t.clientY - lastY;
    const dt = Math.max(1, now - lastT);
    lastY = t.clientY;
    lastT = now;
    velocity = 0.8 * (dy / dt) + 0.2 * velocity;
    if (e.cancelable) e.preventDefault(); // no page scroll, no pull-to-refresh
    scroll(dy, t.clientX, t.clientY);
  };
  const onEnd = (e) => {
    if (lastY === null) return;
    const x = e.changedTouches[0] ? e.changedTouches[0].clientX : 0;
    const y = lastY;
    lastY = null;
    if (performance.now() - lastT > 100 || Math.abs(velocity) < 0.3) return;
    let prev = performance.now();
    const step = (now) => {
      const dt = now - prev;
      prev = now;
      scroll(velocity * dt, x, y);
      velocity *= Math.pow(0.95, dt / 16);
      raf = Math.abs(velocity) > 0.05 ? requestAnimationFrame(step) : 0;
    };
    raf = requestAnimationFrame(step);
  };
  el.addEventListener('touchstart', onStart, { passive: true });
  el.addEventListener('touchmove', onMove, { passive: false });
  el.addEventListener('touchend', onEnd, { passive: true });
  el.addEventListener('touchcancel', onEnd, { passive: true });
  return () => {
    stopMomentum();
    el.removeEventListener('touchstart', onStart);
    el.removeEventListener('touchmove', onMove);
    el.removeEventListener('touchend', onEnd);
    el.removeEventListener('touchcancel', onEnd);
  };
}

// ---------------------------------------------------------------- menu, paste dialog

let menuOpenedAt = 0;
let menuSelection = ''; // the selection when the menu opened (a tap may clear it since)

function openMenu(x, y) {
  if (!termView) return;
  const menu = $('#menu');
  if (!menu.hidden && Date.now() - menuOpenedAt < 800) return;
  menuOpenedAt = Date.now();
  menuSelection = termView.term.getSelection();
  menu.querySelector('[data-action="copy"]').disabled = !menuSelection;
  menu.querySelector('[data-action="paste"]').disabled = termView.ro || termView.ended;
  menu.hidden = false;
  const r = menu.getBoundingClientRect();
  const left = Math.max(4, Math.min(x, window.innerWidth - r.width - 4));
  const top = Math.max(4, Math.min(y, window.innerHeight - r.height - 4));
  menu.style.left = `${left}px`;
  menu.style.top = `${top}px`;
}

function closeMenu() {
  $('#menu').hidden = true;
}

function setupMenu() {
  const el = $('#terminal');
  el.addEventListener(
    'contextmenu',
    (e) => {
      // programs that use the mouse get right clicks; Shift+right click still opens the menu
      if (termView && termView.term.modes.mouseTrackingMode !== 'none' && !e.shiftKey && e.button === 2) return;
      e.preventDefault();
      openMenu(e.clientX, e.clientY);
    },
    true,
  );
  // long press (iOS fires no contextmenu event)
  let press = null;
  el.addEventListener(
    'pointerdown',
    (e) => {
      if (e.pointerType !== 'touch') return;
      const start = { x: e.clientX, y: e.clientY };
      clearTimeout(press && press.timer);
      press = {
        ...start,
        timer: setTimeout(() => {
          press = null;
          openMenu(start.x, start.y);
        }, 600),
      };
    },
    true,
  );
  const cancel = (e) => {
    if (!press) return;
    if (e.type === 'pointermove' && Math.hypot(e.clientX - press.x, e.clientY - press.y) < 10) return;
    clearTimeout(press.timer);
    press = null;
  };
  for (const t of ['pointermove', 'pointerup', 'pointercancel']) el.addEventListener(t, cancel, true);

  const menu = $('#menu');
  menu.addEventListener('pointerdown', (e) => e.preventDefault());
  menu.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b || !termView) return;
    closeMenu();
    const action = b.dataset.action;
    if (action === 'copy') termView.copySelection(menuSelection);
    else if (action === 'paste') termView.paste();
    else if (action === 'select-all') termView.term.selectAll();
  });
  document.addEventListener(
    'pointerdown',
    (e) => {
      if (!menu.hidden && !menu.contains(e.target)) closeMenu();
    },
    true,
  );
  document.addEventListener(
    'keydown',
    (e) => {
      if (e.key === 'Escape' && !menu.hidden) {
        closeMenu();
        e.stopPropagation();
      }
    },
    true,
  );
  window.addEventListener('blur', closeMenu);
}

let pasteDone = null;

function openPasteDialog(done) {
  pasteDone = done;
  const d = $('#paste-dialog');
  $('#paste-text').value = '';
  d.hidden = false;
  $('#paste-text').focus();
}

function setupPasteDialog() {
  const d = $('#paste-dialog');
  const close = (send) => {
    const text = $('#paste-text').value;
    d.hidden = true;
    const done = pasteDone;
    pasteDone = null;
    if (send && done) done(text);
    if (termView) termView.term.focus();
  };
  $('#paste-form').addEventListener('submit', (e) => {
    e.preventDefault();
    close(true);
  });
  $('#paste-cancel').addEventListener('click', () => close(false));
  d.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') close(false);
  });
  d.addEventListener('click', (e) => {
    if (e.target === d) close(false);
  });
}

// ---------------------------------------------------------------- terminal view chrome

function setupTermChrome() {
  $('#back').addEventListener('click', () => {
    location.hash = '#/';
  });
  $('#ro-toggle').addEventListener('click', () => {
    if (!termView) return;
    location.hash = termHash(termView.id, !termView.ro);
  });
  $('#font-down').addEventListener('click', () => termView && termView.changeFont(-1));
  $('#font-up').addEventListener('click', () => termView && termView.changeFont(1));
  // toolbar buttons leave the keyboard focus in the terminal
  for (const sel of ['#ro-toggle', '#font-down', '#font-up']) {
    $(sel).addEventListener('pointerdown', (e) => e.preventDefault());
    $(sel).addEventListener('mousedown', (e) => e.preventDefault());
  }

  // Key bar: buttons never take the focus from the terminal (so a phone keeps its keyboard).
  const bar = $('#keybar');
  bar.addEventListener('pointerdown', (e) => {
    if (e.target.closest('button')) e.preventDefault();
  });
  bar.addEventListener('mousedown', (e) => e.preventDefault());
  bar.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-key]');
    if (!b || !termView) return;
    e.preventDefault();
    const key = b.dataset.key;
    if (key === 'ctrl' || key === 'alt') {
      mods[key] = !mods[key];
      syncModButtons();
      return;
    }
    termView.sendKey(key);
  });
}

// ---------------------------------------------------------------- start

function start() {
  trackViewport();
  document.documentElement.classList.toggle('touch', isTouch());
  setupCreateForm();
  setupTermChrome();
  setupMenu();
  setupPasteDialog();
  window.addEventListener('hashchange', route);
  route();
}

start();
