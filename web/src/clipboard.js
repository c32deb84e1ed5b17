// Copy and paste: the clipboard (with a fallback for plain http), Ctrl+Shift+C's copy, the
// terminal's menu (right click or long press: copy, paste, select all) and the paste dialog
// for browsers that do not let the page read the clipboard.

import { $ } from './dom.js';
import { toast } from './format.js';

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

// Copies the terminal's selection (or `fallback` when there is none), with a toast.
export async function copySelection(term, fallback = '') {
  const text = term.getSelection() || fallback;
  if (!text) {
    toast('Nothing selected');
    return;
  }
  toast((await copyText(text)) ? 'Copied' : 'Copy failed: the browser refused');
}

// Pasted text loses every escape character (ESC, and the one-byte CSI U+009B): a paste that
// held `ESC [ 201 ~` would otherwise end the shell's bracketed paste early and run what follows
// without Enter. Control characters such as tab and newline stay.
export function sanitizePaste(text) {
  return text.replace(/[\x1b\u009b]/g, '');
}

// Every paste path ends here: the menu, the paste dialog and the browser's own paste event
// (Ctrl+V, Ctrl+Shift+V, the phone's paste), which the terminal view sends through this too.
export function pasteInto(term, text) {
  const clean = sanitizePaste(text);
  if (clean) term.paste(clean);
}

// Pastes the clipboard into the terminal view, through the paste dialog when the browser
// does not let the page read the clipboard.
async function paste(view) {
  if (view.ro || view.ended) {
    toast('Read-only: pasting is off');
    return;
  }
  if (window.isSecureContext && navigator.clipboard && navigator.clipboard.readText) {
    try {
      const text = await navigator.clipboard.readText();
      if (text) pasteInto(view.term, text);
      return;
    } catch {
      /* fall back to the dialog */
    }
  }
  openPasteDialog((text) => {
    if (text && !view.destroyed) pasteInto(view.term, text);
  });
}

// ---------------------------------------------------------------- menu, paste dialog
// `current()` is the terminal view (or null).

let menuOpenedAt = 0;
let menuSelection = ''; // the selection when the menu opened (a tap may clear it since)

function openMenu(view, x, y) {
  if (!view) return;
  const menu = $('#menu');
  if (!menu.hidden && Date.now() - menuOpenedAt < 800) return;
  menuOpenedAt = Date.now();
  menuSelection = view.term.getSelection();
  menu.querySelector('[data-action="copy"]').disabled = !menuSelection;
  menu.querySelector('[data-action="paste"]').disabled = view.ro || view.ended;
  menu.hidden = false;
  const r = menu.getBoundingClientRect();
  const left = Math.max(4, Math.min(x, window.innerWidth - r.width - 4));
  const top = Math.max(4, Math.min(y, window.innerHeight - r.height - 4));
  menu.style.left = `${left}px`;
  menu.style.top = `${top}px`;
}

export function closeMenu() {
  $('#menu').hidden = true;
}

export function setupMenu(current) {
  const el = $('#terminal');
  el.addEventListener(
    'contextmenu',
    (e) => {
      // programs that use the mouse get right clicks; Shift+right click still opens the menu
      const view = current();
      if (view && view.term.modes.mouseTrackingMode !== 'none' && !e.shiftKey && e.button === 2) return;
      e.preventDefault();
      openMenu(view, e.clientX, e.clientY);
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
          openMenu(current(), start.x, start.y);
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
    const view = current();
    if (!b || !view) return;
    closeMenu();
    const action = b.dataset.action;
    if (action === 'copy') copySelection(view.term, menuSelection);
    else if (action === 'paste') paste(view);
    else if (action === 'select-all') view.term.selectAll();
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

export function setupPasteDialog(current) {
  const d = $('#paste-dialog');
  const close = (send) => {
    const text = $('#paste-text').value;
    d.hidden = true;
    const done = pasteDone;
    pasteDone = null;
    if (send && done) done(text);
    const view = current();
    if (view) view.term.focus();
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
