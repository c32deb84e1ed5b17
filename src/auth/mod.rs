//! Access control: the one place that decides whether a request may pass, and who is asking.
//!
//! A request passes with a live login token, sent as `Authorization: Bearer <token>` or as the
//! `lanterm_session` cookie (`__Host-lanterm_session` over HTTPS). Cookie-authenticated requests that change something, and every
//! WebSocket upgrade, must also come from an allowed `Origin` (`origin`), which closes
//! cross-site request forgery and WebSocket hijacking. With `--no-auth` (loopback only, see
//! [`check_no_auth`]) no token is needed, but the `Host` must be a loopback name, so a web page
//! elsewhere cannot reach the service by rebinding its own name to 127.0.0.1.
//!
//! Parts: `credentials` (parsing), `token` (making and hashing tokens, cookies), `password`
//! (Argon2id) and `hasher` (the thread it runs on), `keys` (the records in the database), `limiter` (failed logins per address),
//! `origin` (the `Origin`/`Host` rules), `login` (logging in and out, setting the password).

mod credentials;
mod hasher;
mod keys;
mod lifetime;
mod limiter;
mod login;
mod origin;
mod password;
mod token;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::header::{HOST, ORIGIN, UPGRADE};
use hyper::{HeaderMap, Method};
use tokio::sync::watch;

use crate::config::{Config, Listen};
use crate::model::clock::Timestamp;
use crate::model::error::{Code, Error};

pub use credentials::{Presented, presented};
pub use keys::Keys;
pub use lifetime::LoginEnd;
pub use login::{Issued, Secret, set_password_offline};
pub use origin::{Transport, host_in_allowed, host_is_loopback, origin_allowed};
pub use password::{MAX_LEN as PASSWORD_MAX_LEN, check_rules as check_password_rules};
pub use token::{COOKIE_NAME, TokenHash};

/// Where a connection comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    /// A `unix:` listener: someone on this machine.
    Unix,
}

impl Peer {
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            Peer::Tcp(addr) => Some(addr.ip()),
            Peer::Unix => None,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{}", addr.ip()),
            Peer::Unix => f.write_str("the unix socket"),
        }
    }
}

/// How a caller got in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `--no-auth`.
    Open,
    Bearer,
    Cookie,
}

/// Who is asking: what a handler may record or act on.
#[derive(Debug, Clone)]
pub struct Caller {
    pub via: Via,
    pub peer: Peer,
    /// The token used, for logout.
    token: Option<TokenHash>,
    /// When that token expires (see [`Gate::until_login_ends`]).
    expires: Option<Timestamp>,
    /// Revocations since the request was let in (see [`Gate::until_login_ends`]).
    revocations: watch::Receiver<u64>,
}

impl Caller {
    /// "bearer token from 192.168.1.20", for the record of who created a session.
    pub fn describe(&self) -> String {
        let how = match self.via {
            Via::Open => "no login (--no-auth)",
            Via::Bearer => "bearer token",
            Via::Cookie => "browser login",
        };
        format!("{how} from {}", self.peer)
    }
}

/// Decides, per request, whether the caller is allowed in.
pub struct Gate {
    no_auth: bool,
    keys: Arc<Keys>,
    allowed_origins: Vec<String>,
    /// The service speaks TLS itself (on its TCP listeners; unix sockets stay plain).
    tls: bool,
    token_lifetime: Duration,
    max_tokens: usize,
    limiter: Mutex<limiter::Limiter>,
    /// The first-run setup token's hash, while no password is set.
    setup: Mutex<Option<TokenHash>>,
    /// Argon2 runs one at a time on its own thread: its memory is bounded, and a login flood
    /// queues here.
    hasher: hasher::Hasher,
    /// Bumped when logins may have been revoked (logout, a new password here or by
    /// `lanterm passwd`): open WebSockets and event streams then check their token again.
    revoked: watch::Sender<u64>,
}

/// How often the service looks for a password set by `lanterm passwd`.
const PASSWORD_POLL: Duration = Duration::from_secs(10);

fn unauthorized(message: impl Into<String>) -> Error {
    Error::new(Code::Unauthorized, message)
}

/// Whether a request changes something or opens a WebSocket: what `Origin` rules apply to.
fn acts(method: &Method, headers: &HeaderMap) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || headers.contains_key(UPGRADE)
}

fn header(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Gate {
    /// Opens the login records of the database in `config`. Blocking: call before serving.
    pub fn open(config: &Config) -> Result<Gate, String> {
        Ok(Gate {
            no_auth: config.no_auth,
            keys: Arc::new(Keys::open(&config.db)?),
            allowed_origins: config.allowed_origins.clone(),
            tls: config.tls_cert.is_some(),
            token_lifetime: config.token_lifetime,
            max_tokens: config.max_tokens,
            limiter: Mutex::new(limiter::Limiter::new(
                config.login_table,
                config.login_attempts,
                config.login_window,
            )),
            setup: Mutex::new(None),
            hasher: hasher::Hasher::start()?,
            revoked: watch::Sender::new(0),
        })
    }

    /// Runs `f` on the login records off the async threads.
    async fn keys<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Keys) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let keys = self.keys.clone();
        tokio::task::spawn_blocking(move || f(&keys))
            .await
            .map_err(|e| Error::internal(format!("login records: {e}")))?
    }

    /// Lets the request in, saying who it is, or refuses it: 401 without live credentials, 403
    /// from a refused origin or (with `--no-auth`) a `Host` that is not a loopback name.
    pub async fn admit(
        &self,
        method: &Method,
        headers: &HeaderMap,
        peer: Peer,
    ) -> Result<Caller, Error> {
        let acting = acts(method, headers);
        if self.no_auth {
            self.check_host(headers, peer)?;
            if acting {
                self.check_origin(headers, peer, false)?;
            }
            return Ok(Caller {
                via: Via::Open,
                peer,
                token: None,
                expires: None,
                revocations: self.revoked.subscribe(),
            });
        }
        // Subscribed before the check, so a revocation racing with it is not missed.
        let revocations = self.revoked.subscribe();
        let (via, secret) = match presented(headers).map_err(unauthorized)? {
            Presented::Bearer(s) => (Via::Bearer, s),
            Presented::Cookie(s) => (Via::Cookie, s),
            Presented::Nothing => {
                return Err(unauthorized(
                    "log in first: POST /api/login with the password, then send the token as \
                     \"Authorization: Bearer <token>\" (or let the browser keep the cookie)",
                ));
            }
        };
        let hash = token::hash(secret);
        let expires = self
            .keys(move |k| k.live_until(&hash, Timestamp::now()))
            .await?;
        if expires.is_none() {
            return Err(unauthorized(
                "the login token is unknown, expired or revoked: log in again",
            ));
        }
        if acting && via == Via::Cookie {
            self.check_origin(headers, peer, true)?;
        }
        Ok(Caller {
            via,
            peer,
            token: Some(hash),
            expires,
            revocations,
        })
    }

    /// Whether the request would be let in; for the public endpoints that say more to callers
    /// who are logged in (health).
    pub async fn knows(&self, method: &Method, headers: &HeaderMap, peer: Peer) -> bool {
        self.admit(method, headers, peer).await.is_ok()
    }

    /// Tells open connections to check their logins again.
    fn logins_changed(&self) {
        self.revoked.send_modify(|n| *n += 1);
    }

    /// Notices changes made by `lanterm passwd` from another process (a few reads a minute,
    /// no writes), until `stop` resolves.
    pub async fn watch_password_changes(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut last = self.keys(Keys::password).await.ok().flatten();
        loop {
            tokio::select! {
                () = tokio::time::sleep(PASSWORD_POLL) => {}
                () = &mut stop => return,
            }
            let now = self.keys(Keys::password).await.ok().flatten();
            // Each hash has a fresh salt, so any new password differs, even in the same second.
            if now != last {
                last = now;
                log::info!("the password was changed by lanterm passwd: every login is revoked");
                self.logins_changed();
            }
        }
    }

    /// An `Origin`, when present (or `required`), must be this service's own or allowed.
    fn check_origin(&self, headers: &HeaderMap, peer: Peer, required: bool) -> Result<(), Error> {
        let host = header(headers, HOST);
        let transport = self.transport(peer);
        match header(headers, ORIGIN) {
            Some(origin) if origin_allowed(origin, host, &self.allowed_origins, transport) => {
                Ok(())
            }
            Some(origin) => Err(Error::new(
                Code::Forbidden,
                format!(
                    "cross-origin request refused: Origin {origin:?} is not this service \
                     (Host {:?}); if that page is yours, start the service with \
                     --allowed-origin {origin}",
                    host.unwrap_or("")
                ),
            )),
            None if required && !headers.contains_key(ORIGIN) => Err(Error::new(
                Code::Forbidden,
                "a browser request that changes something must carry an Origin header",
            )),
            None if headers.contains_key(ORIGIN) => Err(Error::new(
                Code::Forbidden,
                "the Origin header is not valid text",
            )),
            None => Ok(()),
        }
    }

    /// Without logins, only requests addressed to a loopback name (or an allowed origin's
    /// host) are answered, which DNS rebinding cannot fake. Unix-socket peers are local.
    fn check_host(&self, headers: &HeaderMap, peer: Peer) -> Result<(), Error> {
        if peer == Peer::Unix {
            return Ok(());
        }
        match header(headers, HOST) {
            Some(h)
                if host_is_loopback(h)
                    || host_in_allowed(h, &self.allowed_origins, self.transport(peer)) =>
            {
                Ok(())
            }
            host => Err(Error::new(
                Code::Forbidden,
                format!(
                    "without logins (--no-auth) this service answers only requests addressed \
                     to localhost or 127.0.0.1, not Host {:?}",
                    host.unwrap_or("")
                ),
            )),
        }
    }
}

/// Refuses `--no-auth` unless nothing but this machine can reach the service.
pub fn check_no_auth(no_auth: bool, listen: &[Listen]) -> Result<(), String> {
    if !no_auth {
        return Ok(());
    }
    let exposed: Vec<String> = listen
        .iter()
        .filter(|l| match l {
            Listen::Tcp(addr) => !is_loopback(addr.ip()),
            Listen::Unix(_) => false,
        })
        .map(ToString::to_string)
        .collect();
    if exposed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "lanterm: --no-auth: refused while listening on {} (not loopback); \
         use --listen 127.0.0.1:7700 with --no-auth",
        exposed.join(", ")
    ))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> Listen {
        Listen::Tcp(s.parse().unwrap())
    }

    #[test]
    fn no_auth_only_on_loopback() {
        assert!(check_no_auth(false, &[tcp("0.0.0.0:7700")]).is_ok());
        assert!(check_no_auth(true, &[tcp("127.0.0.1:7700"), tcp("[::1]:7700")]).is_ok());
        assert!(check_no_auth(true, &[Listen::Unix("/run/l.sock".into())]).is_ok());
        let err = check_no_auth(true, &[tcp("127.0.0.1:1"), tcp("0.0.0.0:7700")]).unwrap_err();
        assert!(
            err.contains("--no-auth") && err.contains("0.0.0.0:7700"),
            "{err}"
        );
        assert!(check_no_auth(true, &[tcp("[::]:7700")]).is_err());
        assert!(check_no_auth(true, &[tcp("192.168.1.5:7700")]).is_err());
    }
}
