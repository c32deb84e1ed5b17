// The terminal view: the TermView class. It attaches to a session over a WebSocket, resumes
// by offset after a loss, acknowledges rendered output (flow control), asks for a redraw
// after the replay, follows the window's and the font's size, and shows the status.

import { api, sessionPath } from './api.js';
import { pasteInto } from './clipboard.js';
import { $ } from './dom.js';
import { setupFiles, uploadFiles } from './files.js';
import { exitText, toast } from './format.js';
import { resetMods } from './keys.js';
import { openTerminal, suppressReplayQueries } from './screen.js';
import { flowMethods } from './termflow.js';
import { inputMethods } from './terminput.js';
import { sizeMethods } from './termsize.js';
import { setupTouchScroll } from './touch.js';

export class TermView {
  constructor(id, ro) {
    this.id = id;
    this.ro = ro;
    this.destroyed = false;
    this.state = 'connecting';
    this.received = null; // offset received up to (null before the first `attached`)
    this.rendered = 0; // offset rendered up to
    this.acked = 0;
    this.marks = []; // [offset, ms]: when output arrived, one a second at most, the newest 64
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
    const { term, fit } = openTerminal(this.el, ro);
    this.term = term;
    this.fit = fit;

    term.onData((data) => this.onInput(data));
    term.onBinary((data) => {
      if (this.ro || this.ended) return;
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      this.send(bytes);
    });
    term.attachCustomKeyEventHandler((e) => this.onKey(e));
    // The browser's paste (keyboard, context menu, a phone's paste) reaches xterm.js's textarea
    // through this element: take it first, so that it is sanitised like every other paste.
    const onPaste = (e) => {
      e.preventDefault();
      e.stopImmediatePropagation();
      if (this.ro || this.ended) return;
      const files = e.clipboardData ? [...e.clipboardData.files] : [];
      if (files.length) return uploadFiles(this.id, files);
      const text = e.clipboardData ? e.clipboardData.getData('text/plain') : '';
      if (text) pasteInto(this.term, text);
    };
    this.el.addEventListener('paste', onPaste, true);
    this.disposers.push(() => this.el.removeEventListener('paste', onPaste, true));
    suppressReplayQueries(term, () => this.replaying);
    this.disposers.push(setupFiles(this));

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
    resetMods();
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
    $('#upload-btn').hidden = this.ro || this.ended;
    $('#fetch-btn').hidden = this.ro || this.ended;
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
    this.mark(this.received);
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
    if (!first && offset < this.received) {
      // the service stopped before storing output shown here: say so and go on from its end
      this.term.write(`\r\n\x1b[2m[output after ${this.timeOf(offset)} was not saved]\x1b[22m\r\n`);
    }
    this.received = offset;
    if (first || this.rendered > offset) this.rendered = offset;
    if (this.acked > offset) this.acked = offset;
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

  onClose(ev) {
    clearTimeout(this.ackTimer);
    this.ackTimer = 0;
    this.ws = null;
    const wasAttached = this.attached;
    this.attached = false;
    if (this.destroyed || this.ended) return;
    this.setWaiting();
    $('#status').title = ev && ev.code ? `connection closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})` : '';
    // 1008: the service ended this login (logout elsewhere, new password)
    if (wasAttached && !(ev && ev.code === 1008)) this.retry();
    else this.diagnose();
  }

  // The attach was refused before it started: find out why (the WebSocket API hides it). A 401
  // brings up the login screen (api.js), which ends this view; after the login the page comes
  // back to this route with a new one.
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
      if (e.status === 401) return;
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
}

// Methods kept in files of their own: what was rendered and acknowledged (termflow.js), the
// keyboard and the key bar (terminput.js), and the size (termsize.js).
Object.assign(TermView.prototype, flowMethods, inputMethods, sizeMethods);
