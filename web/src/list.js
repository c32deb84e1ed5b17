// The session list view (kept live from `api/events`, re-listed when needed) and the form
// that creates a session.

import { api, ApiError, sessionPath } from './api.js';
import { $ } from './dom.js';
import { estimateSize } from './fonts.js';
import { fmtAgo, fmtBytes, parseTime, statusText } from './format.js';
import { termHash } from './routes.js';

export const listView = {
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
        // refused (e.g. 429 or 401): EventSource gives up, so retry by hand; the page cannot
        // see why, so ask the API: a 401 there brings up the login screen
        this.es = null;
        this.setLive('off');
        this.relist();
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

  // When a session's output last grew: the server's last_output_at, else when this page saw
  // output_bytes change (sessions from before the service's restart have no server time).
  note(s) {
    const server = parseTime(s.last_output_at);
    if (!Number.isNaN(server)) {
      this.seen.set(s.id, { bytes: s.output_bytes, at: server });
      return;
    }
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
      this.showError(e.message); // a 401 has brought up the login screen (api.js)
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

export function setupCreateForm() {
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
