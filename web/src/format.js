// Texts for people: byte counts, ages, session statuses and exit texts; and the toast that
// shows a short message for a moment.

import { $ } from './dom.js';

export function fmtBytes(n) {
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

export function fmtAgo(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 10) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

export const parseTime = (t) => (t ? Date.parse(t) : NaN);

// `running`, `completed (0)`, `failed (3)`, `stopped (signal TERM)`, `lost`
export function statusText(s) {
  if (s.status === 'running') return 'running';
  if (s.exit_signal) return `${s.status} (signal ${s.exit_signal})`;
  if (s.exit_code !== null && s.exit_code !== undefined) return `${s.status} (${s.exit_code})`;
  return s.status;
}

// For the terminal view's status line once the process has ended.
export function exitText(s) {
  if (!s) return 'ended';
  if (s.exit_signal) return `ended by signal ${s.exit_signal}`;
  if (s.exit_code !== null && s.exit_code !== undefined) return `exited with code ${s.exit_code}`;
  if (s.status === 'lost') return 'lost (the service restarted)';
  return `ended (${s.status})`;
}

let toastTimer = 0;
export function toast(text, ms = 2500) {
  const el = $('#toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, ms);
}
