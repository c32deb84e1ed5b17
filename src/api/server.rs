//! Listening and connections: TCP (IPv4, IPv6) and unix sockets, within the connection slots
//! of `slots` (a connection over a limit is told 503 and closed without a task or a buffer; one
//! let in on a reserved slot is served only if its first request carries a live login), HTTPS
//! on the TCP listeners when a certificate is configured (the handshake happens in the
//! connection's task, within `--header-timeout`), hyper's HTTP/1.1 with keep-alive, a deadline
//! and size limits on request heads, and a graceful stop.
//!
//! Unix sockets stay plain HTTP even with TLS on: only processes on this machine reach them
//! (a local reverse proxy, scripts), through file permissions, so encryption adds nothing.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::time::Instant;

use super::slots::{Slot, Slots};
#[cfg(feature = "tls")]
use super::tls::Tls;
use super::{Api, body, router};
use crate::auth::Peer;
use crate::config::{Config, Listen};

/// After shutdown begins, open connections get this long to finish what they are doing.
const DRAIN: Duration = Duration::from_millis(1000);

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// The bound listeners, ready to serve, and the TLS acceptor of the TCP ones if HTTPS is on.
pub struct Listeners {
    list: Vec<(Listener, String)>,
    tls: Option<Arc<Tls>>,
}

impl Listeners {
    /// Where each listener ended up (with the real port when 0 was asked for).
    pub fn addresses(&self) -> Vec<String> {
        self.list.iter().map(|(_, a)| a.clone()).collect()
    }

    /// What SIGHUP reloads.
    pub fn reloader(&self) -> Reloader {
        Reloader(self.tls.clone())
    }

    /// A duplicate of each listening socket, in `--listen` order (for an upgrade's handover).
    pub fn duplicates(&self) -> Vec<std::io::Result<OwnedFd>> {
        self.list
            .iter()
            .map(|(l, _)| match l {
                Listener::Tcp(l) => l.as_fd().try_clone_to_owned(),
                Listener::Unix(l) => l.as_fd().try_clone_to_owned(),
            })
            .collect()
    }
}

/// SIGHUP's work: the certificate and key again from their files, if HTTPS is on.
pub struct Reloader(Option<Arc<Tls>>);

impl Reloader {
    /// Reloads (on the blocking pool, as it reads files) or says there is nothing to reload.
    pub fn reload(&self) {
        match &self.0 {
            Some(tls) => {
                let tls = tls.clone();
                tokio::task::spawn_blocking(move || tls.reload());
            }
            None => log::info!("SIGHUP: nothing to reload (no --tls-cert)"),
        }
    }
}

/// Binds every `--listen` address (and loads the TLS certificate and key, if configured).
/// Call within the runtime, before serving.
pub fn bind(config: &Config) -> Result<Listeners, String> {
    bind_inheriting(config, &[])
}

/// Binds every `--listen` address (and loads the TLS certificate and key, if configured),
/// using a listening socket of `inherited` (by `--listen` value: kept across an upgrade, so no
/// connection is refused meanwhile) where there is one. Call within the runtime.
pub fn bind_inheriting(
    config: &Config,
    inherited: &[(String, OwnedFd)],
) -> Result<Listeners, String> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(Tls::load(cert, key)?)),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut out = Vec::new();
    for listen in &config.listen {
        let key = listen.to_string();
        if let Some((_, fd)) = inherited.iter().find(|(k, _)| *k == key) {
            match adopt(listen, fd, scheme) {
                Ok(bound) => {
                    out.push(bound);
                    continue;
                }
                Err(e) => log::warn!("{key}: the inherited socket is unusable ({e}); binding anew"),
            }
        }
        let bound = match listen {
            Listen::Tcp(addr) => {
                let std = std::net::TcpListener::bind(addr)
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                std.set_nonblocking(true)
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                let local = std.local_addr().map_err(|e| format!("{addr}: {e}"))?;
                let tcp = TcpListener::from_std(std).map_err(|e| format!("{addr}: {e}"))?;
                (Listener::Tcp(tcp), format!("{scheme}://{local}"))
            }
            Listen::Unix(path) => (
                Listener::Unix(super::unix::bind_unix(path, config)?),
                listen.to_string(),
            ),
        };
        out.push(bound);
    }
    Ok(Listeners { list: out, tls })
}

/// A listening socket inherited for `listen` (a duplicate is taken; the original stays).
fn adopt(listen: &Listen, fd: &OwnedFd, scheme: &str) -> std::io::Result<(Listener, String)> {
    let fd = fd.try_clone()?;
    Ok(match listen {
        Listen::Tcp(_) => {
            let std = std::net::TcpListener::from(fd);
            std.set_nonblocking(true)?;
            let local = std.local_addr()?;
            (
                Listener::Tcp(TcpListener::from_std(std)?),
                format!("{scheme}://{local}"),
            )
        }
        Listen::Unix(_) => {
            let std = std::os::unix::net::UnixListener::from(fd);
            std.set_nonblocking(true)?;
            std.local_addr()?;
            (
                Listener::Unix(UnixListener::from_std(std)?),
                listen.to_string(),
            )
        }
    })
}

/// Accepts and serves connections until shutdown, then lets them finish (within [`DRAIN`]).
pub async fn serve(api: Arc<Api>, listeners: Listeners) {
    accept_until(api, listeners, std::future::pending())
        .await
        .drain()
        .await;
}

/// Accepts and serves connections until `until` resolves or the API shuts down; returns once
/// nothing is accepted any more, the connections still open (the listening sockets close with
/// the accept loops unless a copy of them is kept elsewhere: an upgrade keeps one, so new
/// connections wait in their queue). Telling the connections to stop *after* this means none
/// that a stopping client makes again is accepted here only to be closed.
pub async fn accept_until(
    api: Arc<Api>,
    listeners: Listeners,
    until: impl std::future::Future<Output = ()>,
) -> Open {
    let slots = Slots::new(api.limits.connections);
    let mut accepters = Vec::new();
    for (listener, _) in listeners.list {
        accepters.push(tokio::spawn(accept_loop(
            api.clone(),
            listener,
            listeners.tls.clone(),
            slots.clone(),
        )));
    }
    let mut shutdown = api.shutdown.clone();
    tokio::select! {
        () = until => {}
        () = super::stopping(&mut shutdown) => {}
    }
    for a in &accepters {
        a.abort();
    }
    for a in accepters {
        let _ = a.await; // cancelled: its listener is dropped, nothing more is accepted
    }
    Open { slots }
}

/// The connections of a server that no longer accepts.
pub struct Open {
    slots: Arc<Slots>,
}

impl Open {
    /// Once the API is shutting down: lets open connections finish, for at most [`DRAIN`].
    pub async fn drain(self) {
        // Every connection holds a slot: all back means all closed.
        self.slots.all_free(DRAIN).await;
    }
}

/// Failed accepts are logged at most this often (out of descriptors, they fail ten times a
/// second, and every log line is a write to the card).
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(60);

async fn accept_loop(api: Arc<Api>, listener: Listener, tls: Option<Arc<Tls>>, slots: Arc<Slots>) {
    let mut warned: Option<tokio::time::Instant> = None;
    let mut unlogged = 0u64;
    loop {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().await.map(|(s, addr)| {
                let _ = s.set_nodelay(true); // keystrokes and echoes go out at once
                Conn::Tcp(s, addr)
            }),
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
        };
        let conn = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: say so (now and then), breathe, go on.
                if warned.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_EVERY) {
                    log::warn!("accept failed: {e} ({unlogged} more since the last report)");
                    (warned, unlogged) = (Some(tokio::time::Instant::now()), 0);
                } else {
                    unlogged += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = match slots.take(conn.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                conn.refuse(&refusal.answer());
                continue;
            }
        };
        let (api, tls) = (api.clone(), tls.clone());
        tokio::spawn(async move {
            match (conn, tls) {
                (Conn::Tcp(s, addr), Some(tls)) => {
                    // The handshake holds the connection's slot, within the head's deadline.
                    if let Some(s) = tls.accept(s, api.limits.header_timeout).await {
                        serve_connection(api, Box::new(s), Peer::Tcp(addr), &slot).await;
                    }
                }
                (Conn::Tcp(s, addr), None) => {
                    serve_connection(api, Box::new(s), Peer::Tcp(addr), &slot).await;
                }
                (Conn::Unix(s), _) => serve_connection(api, Box::new(s), Peer::Unix, &slot).await,
            }
            drop(slot);
        });
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream, std::net::SocketAddr),
    Unix(tokio::net::UnixStream),
}

impl Conn {
    fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Conn::Tcp(_, addr) => Some(addr.ip()),
            Conn::Unix(_) => None,
        }
    }

    /// Over a limit: `answer` (a 503) if the socket takes it right now, then closed. No task.
    fn refuse(self, answer: &[u8]) {
        let _ = match &self {
            Conn::Tcp(s, _) => s.try_write(answer),
            Conn::Unix(s) => s.try_write(answer),
        };
    }
}

/// A connection's byte stream: TCP, unix or TLS. Boxed, so hyper's connection code is compiled
/// once rather than once per kind of stream (it is the bulk of the HTTP side's size).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves one connection. On a reserved `slot`, its first request must carry a live login
/// (else 503 and the connection closes); the requests after it are served as on any other.
async fn serve_connection(api: Arc<Api>, stream: Box<dyn Io>, peer: Peer, slot: &Slot) {
    let limits = &api.limits;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(
            usize::try_from(limits.max_head)
                .unwrap_or(usize::MAX)
                .max(8192),
        )
        .max_headers(limits.max_headers)
        .keep_alive(true);
    let handler = api.clone();
    let body_time = limits.header_timeout;
    let on_probation = Arc::new(AtomicBool::new(slot.probation));
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        // The body gets as long again as the head had (see `body::read`).
        let deadline = Instant::now() + body_time;
        req.extensions_mut().insert(body::Deadline(deadline));
        let (api, probation) = (handler.clone(), on_probation.clone());
        async move {
            // HTTP/1.1 serves a connection's requests one after another: no race here.
            if probation.load(Ordering::Relaxed) {
                if !api.gate.knows(req.method(), req.headers(), peer).await {
                    return Ok(router::reserved_for_logins());
                }
                probation.store(false, Ordering::Relaxed);
            }
            Ok::<_, std::convert::Infallible>(router::handle(api, req, peer).await)
        }
    });
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut shutdown = api.shutdown.clone();
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                log::debug!("connection ended: {e}");
            }
        }
        () = super::stopping(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, conn).await;
        }
    }
}

/// A build without the `tls` feature has no TLS acceptor: no value of this type exists (the
/// settings are refused when the configuration is loaded), so these are never called.
#[cfg(not(feature = "tls"))]
enum Tls {}

#[cfg(not(feature = "tls"))]
impl Tls {
    fn load(_cert: &std::path::Path, _key: &std::path::Path) -> Result<Tls, String> {
        Err("this build has no TLS support".to_string())
    }

    fn reload(&self) {
        match *self {}
    }

    async fn accept(
        &self,
        _tcp: tokio::net::TcpStream,
        _limit: Duration,
    ) -> Option<tokio::net::TcpStream> {
        match *self {}
    }
}
