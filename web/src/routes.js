// The hash routes of docs/UI.md: `#/` (list), `#/s/ID` and `#/s/ID?ro=1` (terminal).

export function parseRoute() {
  const h = location.hash.replace(/^#/, '');
  const m = /^\/s\/([^/?]+)\/?(?:\?(.*))?$/.exec(h);
  if (m) {
    const q = new URLSearchParams(m[2] || '');
    const ro = q.get('ro');
    let id = m[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      /* keep it */
    }
    return { view: 'term', id, ro: ro === '1' || ro === 'true' };
  }
  return { view: 'list' };
}

export const termHash = (id, ro) => `#/s/${encodeURIComponent(id)}${ro ? '?ro=1' : ''}`;
