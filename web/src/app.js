// lanterm browser UI: the session list and the terminal view, behind the login screen (see
// docs/UI.md). Plain ES modules, bundled by build.mjs with xterm.js and its addons. This module
// (the bundle's entry) owns the routing between the views, the terminal view's toolbar,
// `window.lanterm` and the start-up; the views and their parts live in their own modules
// (see web/README.md).

import { setUnauthorizedHandler } from './api.js';
import { closeMenu, setupMenu, setupPasteDialog } from './clipboard.js';
import { $, isTouch, trackViewport } from './dom.js';
import { setupFetchDialog } from './files.js';
import { setupKeybar } from './keys.js';
import { listView, setupCreateForm } from './list.js';
import {
  dropSetupParam,
  loginShown,
  loginState,
  markNoLogins,
  setupLogin,
  setupParam,
  showLogin,
  showSetup,
} from './login.js';
import { parseRoute, termHash } from './routes.js';
import { TermView } from './terminal.js';

// ---------------------------------------------------------------- router

let termView = null;

function route() {
  // behind the login screen the route waits; after the login it is shown
  if (loginShown()) return;
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

// The login screen comes up: the views stop (no reconnecting, no event stream).
function hideViews() {
  closeMenu();
  listView.hide();
  if (termView) {
    termView.destroy();
    termView = null;
  }
  $('#list-view').hidden = true;
  $('#term-view').hidden = true;
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

// The terminal view shown now (or null), for the modules that act on it.
const currentView = () => termView;

// ---------------------------------------------------------------- terminal view chrome

function setupToolbar() {
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
}

// ---------------------------------------------------------------- start

async function start() {
  trackViewport();
  document.documentElement.classList.toggle('touch', isTouch());
  setupCreateForm();
  setupToolbar();
  setupKeybar(currentView);
  setupMenu(currentView);
  setupPasteDialog(currentView);
  setupFetchDialog(currentView);
  setupLogin({ hideViews, loggedIn: route });
  setUnauthorizedHandler(() => showLogin('Your login has ended: log in again.'));
  window.addEventListener('hashchange', route);

  const state = await loginState();
  if (state === 'open') markNoLogins();
  const setup = setupParam();
  if (setup !== null && (state === 'out' || state === 'unknown')) {
    showSetup(setup);
    return;
  }
  // logged in already (or no logins): the setup link is spent
  if (setup !== null && state !== 'unknown') dropSetupParam();
  if (state === 'out') showLogin();
  else route();
}

start();
