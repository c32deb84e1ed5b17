// Test helper (runs nothing at load time): a small HTTP reverse proxy on 127.0.0.1 that serves
// the lanterm server under a sub-path, the way nginx's `location /lanterm/ { proxy_pass
// http://127.0.0.1:PORT/; }` would:
//
//   /lanterm/X   -> forwarded to the server as /X (method, headers, body streamed both ways;
//                   WebSocket upgrades too: the rewritten request goes down a TCP connection,
//                   then both sockets are piped)
//   /lanterm     -> 301 to /lanterm/ (query kept)
//   anything else -> 404 (so a page that asks for /api/... or /assets/... at the root fails)
//
//   const px = await startPrefixProxy(srv.port);   // px.url = 'http://127.0.0.1:P/lanterm/'
//   px.seen()   // [{ kind: 'http'|'upgrade', method, url, forwarded, status }], every request
//   await px.close();
//
// Responses are not rewritten (no Location rewriting): what the server says goes to the page.

import http from 'node:http';
import net from 'node:net';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'proxy-connection',
]);

/** Copy of `headers` (a Node headers object) without the hop-by-hop ones. */
function endToEnd(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
  }
  return out;
}

export async function startPrefixProxy(targetPort, { prefix = '/lanterm' } = {}) {
  const seen = [];
  const sockets = new Set(); // upgraded (WebSocket) connections, both ends
  const agent = new http.Agent({ keepAlive: true });

  /** '/lanterm/X?q' -> '/X?q'; null when the URL is not under the prefix. */
  function rewrite(url) {
    return url.startsWith(`${prefix}/`) ? url.slice(prefix.length) : null;
  }

  const server = http.createServer((req, res) => {
    const entry = { kind: 'http', method: req.method, url: req.url, forwarded: null, status: null };
    seen.push(entry);
    const reply = (status, headers, body) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(body);
    };

    const path = rewrite(req.url);
    if (path === null) {
      const [p, q] = req.url.split(/\?(.*)/s);
      if (p === prefix) {
        reply(301, { location: `${prefix}/${q !== undefined ? `?${q}` : ''}` }, 'moved\n');
      } else {
        reply(404, {}, `not under ${prefix}/\n`);
      }
      req.resume();
      return;
    }
    entry.forwarded = path;

    const headers = endToEnd(req.headers);
    headers['x-forwarded-for'] = req.socket.remoteAddress;
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-prefix'] = prefix;
    const up = http.request({
      host: '127.0.0.1',
      port: targetPort,
      method: req.method,
      path,
      headers,
      agent,
    });
    up.on('response', (ures) => {
      entry.status = ures.statusCode;
      res.writeHead(ures.statusCode, ures.statusMessage, endToEnd(ures.headers));
      // Server-sent events (api/events) must reach the page as they come.
      res.flushHeaders();
      ures.pipe(res);
      ures.on('error', () => res.destroy());
    });
    up.on('error', (e) => {
      if (!res.headersSent) reply(502, {}, `upstream: ${e.message}\n`);
      else res.destroy();
    });
    // The page went away (e.g. an EventSource closed): drop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });

  server.on('upgrade', (req, socket, head) => {
    const entry = { kind: 'upgrade', method: req.method, url: req.url, forwarded: null, status: null };
    seen.push(entry);
    socket.on('error', () => socket.destroy());
    const path = rewrite(req.url);
    if (path === null) {
      entry.status = 404;
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    entry.forwarded = path;

    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(socket);
    sockets.add(upstream);
    socket.setNoDelay(true);
    upstream.setNoDelay(true);
    const done = () => {
      socket.destroy();
      upstream.destroy();
      sockets.delete(socket);
      sockets.delete(upstream);
    };
    socket.on('close', done);
    upstream.on('error', done).on('close', done);

    upstream.once('connect', () => {
      // The request line with the rewritten path, then the headers exactly as received
      // (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-* must all pass).
      let text = `${req.method} ${path} HTTP/${req.httpVersion}\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      }
      text += `X-Forwarded-For: ${socket.remoteAddress}\r\nX-Forwarded-Proto: http\r\n`;
      text += `X-Forwarded-Prefix: ${prefix}\r\n\r\n`;
      upstream.write(text);
      if (head && head.length) upstream.write(head);
      // Note the server's answer (101 when the WebSocket is accepted), then just pipe.
      upstream.once('data', (chunk) => {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1', 0, 64));
        entry.status = m ? Number(m[1]) : 'unparsed';
      });
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  const origin = `http://127.0.0.1:${port}`;

  let closing = null;
  return {
    origin,
    port,
    prefix,
    /** The page's base URL under the proxy (ends in /). */
    url: `${origin}${prefix}/`,
    /** Every request the proxy received so far, in arrival order (copies). */
    seen: () => seen.map((e) => ({ ...e })),
    close() {
      if (closing) return closing;
      closing = new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of [...sockets]) s.destroy();
        sockets.clear();
        agent.destroy();
      });
      return closing;
    },
  };
}
