// Test helper (runs nothing at load time): a TCP proxy on 127.0.0.1 in front of the server, so a
// test can cut the network path (every connection dropped at once) while the server runs on.

import net from 'node:net';

export async function startProxy(targetPort) {
  const open = new Set();
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
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
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
