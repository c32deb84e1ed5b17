// The HTTP API of docs/PROTOCOL.md: `api()`, its error type, and the session paths.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Every URL is relative to the page, so the UI works under a reverse proxy's sub-path.
export async function api(method, path, body) {
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
    throw new ApiError(res.status, (err && err.code) || 'http', message);
  }
  return data;
}

export const sessionPath = (id) => `api/sessions/${encodeURIComponent(id)}`;
