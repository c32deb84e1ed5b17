// The terminal's font: family, size limits, the measured cell size, the stored or default
// size, the size that fits 80 columns, and the terminal size a new session will likely get.

import { isTouch } from './dom.js';

export const FONT_FAMILY =
  'ui-monospace, "SF Mono", "Cascadia Mono", Menlo, Monaco, Consolas, "DejaVu Sans Mono", ' +
  '"Liberation Mono", "Noto Sans Mono", "Droid Sans Mono", "Ubuntu Mono", monospace';
export const MIN_FONT = 10;
export const MAX_FONT = 32;
const SCROLLBAR = 14; // what the fit addon keeps free on the right

// Width of one monospace cell and height of one line, per pixel of font size.
let fontMetrics = null;
export function metrics() {
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

export function baseFontSize() {
  return storedFontSize() || (isTouch() ? 13 : 14);
}

// The largest font size (at most the base size, at least 10 px) that fits `cols` columns.
export function fontFor(width, cols, base) {
  const fit = Math.floor(((width - SCROLLBAR - 2) / (cols * metrics().w)) * 2) / 2;
  return Math.max(Math.min(base, fit), Math.min(base, MIN_FONT));
}

// The terminal size the new session will most likely get, so its first prompt fits.
export function estimateSize() {
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
