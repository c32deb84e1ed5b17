// The terminal view's input: typed and pasted data (with the key bar's sticky modifiers), the
// key bar's keys, and the browser shortcuts taken before xterm.js (Ctrl+Shift+C and V). Mixed
// into TermView (terminal.js).

import { copySelection } from './clipboard.js';
import { applyMods, keyData } from './keys.js';

const encoder = new TextEncoder();

export const inputMethods = {
  onInput(data, fromPaste = false) {
    if (this.ro || this.ended) return;
    const out = fromPaste ? data : applyMods(data);
    // this device types: its size wins again (the last resize wins, whoever sent it)
    this.sendResize();
    this.send(encoder.encode(out));
  },

  sendKey(key) {
    if (this.ro || this.ended) return;
    const data = keyData(key, this.term.modes.applicationCursorKeysMode);
    this.term.scrollToBottom();
    this.onInput(data);
  },

  onKey(e) {
    const k = e.key ? e.key.toLowerCase() : '';
    if (e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey && (k === 'c' || k === 'v')) {
      if (e.type === 'keydown') {
        if (k === 'c') {
          e.preventDefault(); // Ctrl+Shift+C would open the browser's inspector
          copySelection(this.term);
        }
        // Ctrl+Shift+V: let the browser's paste event reach xterm (works on plain http too)
      }
      return false;
    }
    return true;
  },
};
