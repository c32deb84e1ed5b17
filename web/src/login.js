// Logins: the login screen, the first-run "choose a password" screen (the service's setup
// link, `#setup=TOKEN`: in the fragment, so the token never travels in a request), logging out, the change-password dialog, and finding out whether the
// service needs a login at all (see docs/UI.md).

import { api } from './api.js';
import { $ } from './dom.js';
import { toast } from './format.js';

let hooks = { hideViews() {}, loggedIn() {} };
let setupToken = '';

// Whether the login screen (either form) is showing: the views wait behind it.
export const loginShown = () => !$('#login-view').hidden;

// 'open' (the service runs without logins, --no-auth), 'in' (logged in), 'out' (a login is
// needed) or 'unknown' (the service did not answer). `GET api/health` answers its details
// (`version` and more) only to callers it lets in: asked without the cookie, that is
// everybody exactly when there are no logins.
export async function loginState() {
  const admitted = async (credentials) => {
    const r = await fetch('api/health', { credentials, cache: 'no-store' });
    const h = await r.json();
    return Boolean(h && typeof h === 'object' && 'version' in h);
  };
  try {
    const [open, loggedIn] = await Promise.all([admitted('omit'), admitted('same-origin')]);
    if (open) return 'open';
    return loggedIn ? 'in' : 'out';
  } catch {
    return 'unknown';
  }
}

// Without logins, the log-out and change-password controls are hidden (they would do nothing).
export function markNoLogins() {
  document.documentElement.classList.add('no-logins');
}

// The setup token from the page's fragment (`#setup=TOKEN`), or null.
export const setupParam = () => {
  const m = /^#setup=([A-Za-z0-9_-]+)$/.exec(location.hash);
  return m ? m[1] : null;
};

// Takes `#setup=` out of the address (and so out of the history); the list's route remains.
export function dropSetupParam() {
  if (!location.hash.startsWith('#setup=')) return;
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
}

function showScreen(which) {
  closePasswordDialog();
  hooks.hideViews();
  $('#login-view').hidden = false;
  $('#login-form').hidden = which !== 'login';
  $('#setup-form').hidden = which !== 'setup';
  document.title = which === 'setup' ? 'Choose a password · lanterm' : 'Log in · lanterm';
}

// The login screen; `note` says why (logged out, the login ended). The route in the address
// stays, so after the login the page shows what was asked for.
export function showLogin(note = '') {
  const already = loginShown() && !$('#login-form').hidden;
  if (!already) {
    showScreen('login');
    $('#l-password').value = '';
    $('#login-error').hidden = true;
    $('#l-password').focus();
  }
  if (note || !already) {
    $('#login-note').textContent = note;
    $('#login-note').hidden = !note;
  }
}

// The first-run screen: choose the password, with the setup token of the service's link.
export function showSetup(token) {
  setupToken = token;
  showScreen('setup');
  $('#setup-error').hidden = true;
  $('#s-password').focus();
}

function leave() {
  // (a service restarted with logins: the page may have started without)
  document.documentElement.classList.remove('no-logins');
  $('#login-view').hidden = true;
  $('#login-form').hidden = true;
  $('#setup-form').hidden = true;
  for (const sel of ['#l-password', '#s-password', '#s-password2']) $(sel).value = '';
  hooks.loggedIn();
}

const waitText = (s) => (s >= 60 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}` : `${s} s`);

// One password form: Enter submits; the button is off while the request runs; the server's
// message shows in the form; after a 429 the button counts the wait down. `body()` returns the
// request's body or throws an Error whose message is shown (no request); `ok(data)` runs on
// success, `failed(e)` may take an error over (returns true).
function passwordForm(form, { button, error, path, body, ok, failed = async () => false, own401 = true }) {
  const label = button.textContent;
  let until = 0;
  let timer = 0;
  const show = (msg) => {
    error.textContent = msg;
    error.hidden = !msg;
  };
  const tick = () => {
    clearTimeout(timer);
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      button.disabled = false;
      button.textContent = label;
      return;
    }
    button.disabled = true;
    button.textContent = `Try again in ${waitText(left)}`;
    timer = setTimeout(tick, until - Date.now() - (left - 1) * 1000);
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (button.disabled) return;
    let data;
    try {
      data = body();
    } catch (err) {
      show(err.message);
      return;
    }
    show('');
    button.disabled = true;
    try {
      const answer = await api('POST', path, data, { own401 });
      button.disabled = false;
      ok(answer);
    } catch (err) {
      button.disabled = false;
      if (await failed(err)) return;
      show(err.message);
      if (err.status === 429) {
        until = Date.now() + Math.max(1, err.retryAfter || 1) * 1000;
        tick();
      }
    }
  });
}

// The new password from two fields that must agree.
function newPassword(a, b) {
  const pw = $(a).value;
  if (pw !== $(b).value) throw new Error('The two passwords are not the same.');
  return pw;
}

// ---------------------------------------------------------------- logout, change password

async function logout() {
  const btn = $('#logout');
  btn.disabled = true;
  try {
    await api('POST', 'api/logout', undefined, { own401: true });
  } catch (e) {
    if (e.status !== 401) {
      toast(`Log out failed: ${e.message}`, 4000);
      btn.disabled = false;
      return;
    }
    // 401: the login had ended already
  }
  btn.disabled = false;
  if ((await loginState()) === 'open') {
    markNoLogins();
    toast('This service runs without logins (--no-auth): there is nothing to log out of.', 5000);
    return;
  }
  showLogin('You are logged out.');
}

function openPasswordDialog() {
  $('#p-current').value = '';
  $('#p-password').value = '';
  $('#p-password2').value = '';
  $('#password-error').hidden = true;
  $('#password-dialog').hidden = false;
  $('#p-current').focus();
}

function closePasswordDialog() {
  const d = $('#password-dialog');
  if (d.hidden) return;
  d.hidden = true;
  $('#p-current').value = '';
  $('#p-password').value = '';
  $('#p-password2').value = '';
  if (!$('#list-view').hidden) $('#change-password').focus();
}

// ---------------------------------------------------------------- wiring

// `hideViews()` puts the list and terminal views away (the login screen comes up);
// `loggedIn()` shows the route in the address again.
export function setupLogin(h) {
  hooks = h;
  passwordForm($('#login-form'), {
    button: $('#l-submit'),
    error: $('#login-error'),
    path: 'api/login',
    body: () => {
      const password = $('#l-password').value;
      if (!password) throw new Error('Type the password.');
      return { password };
    },
    ok: leave,
  });
  passwordForm($('#setup-form'), {
    button: $('#s-submit'),
    error: $('#setup-error'),
    path: 'api/password',
    body: () => ({ password: newPassword('#s-password', '#s-password2'), setup_token: setupToken }),
    ok: () => {
      dropSetupParam();
      leave();
    },
    failed: async (e) => {
      if (e.status !== 403) return false;
      // the link was used already, or a password exists: logging in is the way now
      dropSetupParam();
      showLogin(e.message);
      return true;
    },
  });
  passwordForm($('#password-form'), {
    button: $('#p-submit'),
    error: $('#password-error'),
    path: 'api/password',
    body: () => {
      const current = $('#p-current').value;
      if (!current) throw new Error('Type the current password.');
      return { current_password: current, password: newPassword('#p-password', '#p-password2') };
    },
    ok: () => {
      closePasswordDialog();
      toast('Password changed. Every other login has ended.', 4000);
    },
    // A 401 is a wrong current password while this login lives on; else the login ended and
    // the login screen takes over.
    failed: async (e) => {
      if (e.status !== 401 || (await loginState()) === 'in') return false;
      showLogin('Your login has ended: log in again.');
      return true;
    },
  });

  $('#logout').addEventListener('click', logout);
  $('#change-password').addEventListener('click', openPasswordDialog);
  $('#p-cancel').addEventListener('click', closePasswordDialog);
  const d = $('#password-dialog');
  d.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closePasswordDialog();
  });
  d.addEventListener('click', (e) => {
    if (e.target === d) closePasswordDialog();
  });
}
