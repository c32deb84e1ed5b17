// The terminal view's size: the layout follows the window and the font (read-only views take
// the session's size and shrink the font to show it whole), resizes are sent to the session,
// and A+/A− change the font. Mixed into TermView (terminal.js); `this` is the view.

import { MAX_FONT, MIN_FONT, baseFontSize, fontFor, metrics } from './fonts.js';
import { toast } from './format.js';

export const sizeMethods = {
  queueLayout() {
    if (this.layoutQueued) return;
    this.layoutQueued = true;
    requestAnimationFrame(() => {
      this.layoutQueued = false;
      if (!this.destroyed) this.layout();
    });
  },

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
  },

  sendResize() {
    if (this.ro || this.ended || !this.isOpen()) return;
    const { cols, rows } = this.term;
    if (this.serverSize && this.serverSize.cols === cols && this.serverSize.rows === rows) return;
    this.serverSize = { cols, rows };
    this.sendJson({ type: 'resize', cols, rows });
  },

  changeFont(delta) {
    const cur = this.term.options.fontSize;
    const next = Math.max(MIN_FONT - 2, Math.min(MAX_FONT, Math.round(cur + delta)));
    localStorage.setItem('lanterm.fontSize', String(next));
    this.layout();
    toast(`${next} px`, 1000);
  },
};
