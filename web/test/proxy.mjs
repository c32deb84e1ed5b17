// Test helper (runs nothing at load time): a TCP proxy on 127.0.0.1 in front of the server, so a
// test can cut the network path (every connection dropped at once) while the server runs on.
// `{ host, port }` put it elsewhere (port 80: the service is reached on a Host without a port,
// as behind a reverse proxy); `heads()` gives the request heads that went through (their first
// 4 KiB, as the chunk that starts a request carries them).

import net from 'node:net';

const HEAD_KEEP = 4096;
const HEADS_KEEP = 1000;

export async function startProxy(targetPort, { host = '127.0.0.1', port: listenPort = 0 } = {}) {
  const open = new Set();
  const heads = [];
  let refuseUntil = 0;
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    if (Date.now() < refuseUntil) {
      // "Network still down": the connection is taken and dropped at once.
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const done = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.on('data', (chunk) => {
      const text = chunk.subarray(0, HEAD_KEEP).toString('latin1');
      if (heads.length < HEADS_KEEP && /^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(text)) heads.push(text);
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, host, resolve);
  });
  const port = server.address().port;
  return {
    url: port === 80 ? `http://${host}/` : `http://${host}:${port}/`,
    port,
    /** The requests that went through: the first 4 KiB of each chunk that starts one. */
    heads: () => [...heads],
    /** Connections accepted so far. */
    accepted: () => accepted,
    /** Connections open now (each counted once). */
    openCount: () => open.size / 2,
    /**
     * Destroys every open connection; for `downMs` after that, new ones are accepted and dropped
     * straight away; then they are proxied again.
     */
    cut({ downMs = 0 } = {}) {
      refuseUntil = Date.now() + downMs;
      const n = open.size / 2;
      for (const s of [...open]) s.destroy();
      open.clear();
      return n;
    },
    close() {
      for (const s of [...open]) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
