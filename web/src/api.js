// The HTTP API of docs/PROTOCOL.md: `api()`, its error type, the session paths, and the hook
// that hears when the service asks for a login.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

let onUnauthorized = null;

// `fn()` runs when a request is answered 401 (no login, or it ended), unless the caller said
// it handles 401 itself (`{ own401: true }`: the login forms, where 401 is a wrong password).
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// Every URL is relative to the page, so the UI works under a reverse proxy's sub-path. The
// login cookie goes along (same origin); nothing here may drop the Origin header.
export async function api(method, path, body, { own401 = false } = {}) {
  const init = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'cannot reach the lanterm service');
  }
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error;
    const message = (err && err.message) || `${res.status} ${res.statusText || 'error'}`.trim();
    const retryAfter = Number(res.headers.get('Retry-After')) || 0;
    if (res.status === 401 && !own401 && onUnauthorized) onUnauthorized();
    throw new ApiError(res.status, (err && err.code) || 'http', message, retryAfter);
  }
  return data;
}

export const sessionPath = (id) => `api/sessions/${encodeURIComponent(id)}`;
