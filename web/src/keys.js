// Keys: the sticky Ctrl/Alt modifiers (armed from the key bar, applied to the next key from
// the key bar or the keyboard), what the key bar's keys send, and the key bar's buttons.

import { $ } from './dom.js';

// The modifier state; it changes only here (toggleMod, applyMods, resetMods).
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

function toggleMod(key) {
  mods[key] = !mods[key];
  syncModButtons();
}

// Disarms both modifiers (the terminal view is going away).
export function resetMods() {
  mods.ctrl = mods.alt = false;
  syncModButtons();
}

// Applies (and disarms) the sticky modifiers to the next key's data.
export function applyMods(data) {
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

// What a key bar key sends: the arrows follow the terminal's cursor key mode.
export function keyData(key, applicationCursor) {
  const arrows = { up: 'A', down: 'B', right: 'C', left: 'D' };
  if (arrows[key]) return `\x1b${applicationCursor ? 'O' : '['}${arrows[key]}`;
  if (key === 'esc') return '\x1b';
  if (key === 'tab') return '\t';
  return key;
}

// Key bar: buttons never take the focus from the terminal (so a phone keeps its keyboard).
// `current()` is the terminal view (or null).
export function setupKeybar(current) {
  const bar = $('#keybar');
  bar.addEventListener('pointerdown', (e) => {
    if (e.target.closest('button')) e.preventDefault();
  });
  bar.addEventListener('mousedown', (e) => e.preventDefault());
  bar.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-key]');
    const view = current();
    if (!b || !view) return;
    e.preventDefault();
    const key = b.dataset.key;
    if (key === 'ctrl' || key === 'alt') {
      toggleMod(key);
      return;
    }
    view.sendKey(key);
  });
}
