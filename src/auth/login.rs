//! Logging in and out, and setting the password: through the API (`POST /api/login`,
//! `/api/logout`, `/api/password`, including the first-run setup token) and from
//! `lanterm passwd`. Argon2 runs off the async threads, one at a time; failed attempts are
//! counted per address by the `limiter`.

use std::time::{Duration, Instant};

use super::{Caller, Gate, Keys, Peer, limiter, password, token, unauthorized};
use crate::clock::Timestamp;
use crate::error::{Code, Error};

/// How long a login may wait for its turn at the password hash before the service says it is
/// busy: a flood of logins queues here instead of piling up hashing threads.
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// A token just issued: the secret for the client and its cookie.
pub struct Issued {
    pub token: String,
    pub expires_at: Timestamp,
    pub cookie: String,
}

impl Gate {
    /// Issues a token to `peer`, recorded in the database.
    async fn issue(&self, peer: Peer) -> Result<Issued, Error> {
        let (secret, hash) =
            token::generate().map_err(|e| Error::internal(format!("reading random bytes: {e}")))?;
        let now = Timestamp::now();
        let lifetime = i64::try_from(self.token_lifetime.as_secs()).unwrap_or(i64::MAX);
        let expires_at = Timestamp(now.0.saturating_add(lifetime));
        let (address, max) = (peer.to_string(), self.max_tokens);
        let pushed_out = self
            .keys(move |k| k.add_token(&hash, now, expires_at, &address, max))
            .await?;
        if pushed_out > 0 {
            // The oldest logins beyond --max-tokens are gone: their open connections close.
            self.logins_changed();
        }
        Ok(Issued {
            cookie: token::cookie(&secret, self.token_lifetime, self.secure),
            token: secret,
            expires_at,
        })
    }

    /// The `Set-Cookie` value that logs a browser out.
    pub fn clear_cookie(&self) -> String {
        token::clear_cookie(self.secure)
    }

    /// Runs Argon2 (`f`) on the password thread, waiting at most [`HASH_QUEUE_WAIT`] for it.
    async fn hash_work<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.hasher.run(HASH_QUEUE_WAIT, f).await
    }

    /// Asks the limiter about an attempt from `peer`: 429 while it is locked out; else how long
    /// a wrong answer must wait.
    fn attempt(&self, peer: Peer) -> Result<Duration, Error> {
        let key = limiter::Key::of(peer.ip());
        let verdict = match self.limiter.lock() {
            Ok(mut l) => l.check(key, Instant::now()),
            Err(_) => return Err(Error::internal("the login limiter is broken")),
        };
        match verdict {
            limiter::Verdict::Try { delay_if_wrong } => Ok(delay_if_wrong),
            limiter::Verdict::Refuse { retry_after } => Err(Error::new(
                Code::TooManyRequests,
                format!(
                    "too many failed logins from {peer}; try again in {} seconds",
                    retry_after.as_secs().max(1)
                ),
            )),
        }
    }

    /// Counts a failure, waits the delay the limiter asked for, and returns `err`.
    async fn failed(&self, peer: Peer, delay: Duration, err: Error) -> Error {
        if let Ok(mut l) = self.limiter.lock() {
            l.failed(limiter::Key::of(peer.ip()), Instant::now());
        }
        log::warn!("failed login from {peer}");
        tokio::time::sleep(delay).await;
        err
    }

    /// `POST /api/login`: checks the password and issues a token.
    pub async fn login(&self, given: String, peer: Peer) -> Result<Issued, Error> {
        let delay = self.attempt(peer)?;
        let stored = self.keys(Keys::password).await?;
        let Some(stored) = stored else {
            return Err(unauthorized(
                "no password is set yet: use the setup link in the service's log, or run \
                 \"lanterm passwd\" on the board",
            ));
        };
        let ok = given.len() <= password::MAX_LEN
            && self
                .hash_work(move || password::verify(&given, &stored))
                .await?;
        if !ok {
            return Err(self
                .failed(peer, delay, unauthorized("wrong password"))
                .await);
        }
        if let Ok(mut l) = self.limiter.lock() {
            l.succeeded(limiter::Key::of(peer.ip()));
        }
        log::info!("login from {peer}");
        self.issue(peer).await
    }

    /// `POST /api/logout`: revokes the caller's token (nothing to do without one).
    pub async fn logout(&self, caller: &Caller) -> Result<(), Error> {
        if let Some(hash) = caller.token {
            self.keys(move |k| k.revoke(&hash)).await?;
            self.logins_changed();
        }
        Ok(())
    }

    /// `POST /api/password`: sets a new password, revoking every token, and logs the caller in
    /// with a fresh one. Allowed to a logged-in `caller`, or with the first-run `setup` token
    /// while no password is set.
    pub async fn set_password(
        &self,
        new: String,
        setup: Option<String>,
        caller: Option<&Caller>,
        peer: Peer,
    ) -> Result<Issued, Error> {
        if caller.is_none() {
            let delay = self.attempt(peer)?;
            let expected = self.setup.lock().ok().and_then(|s| *s);
            let given = setup.as_deref().filter(|s| token::well_formed(s));
            let matches = match (expected, given) {
                (Some(e), Some(g)) => token::same(&e, &token::hash(g)),
                _ => false,
            };
            if !matches {
                let err = if expected.is_none() && setup.is_some() {
                    Error::new(
                        Code::Forbidden,
                        "the setup link has been used already (or the password was set another \
                         way); log in with the password",
                    )
                } else {
                    unauthorized("log in first, or use the setup link from the service's log")
                };
                return Err(self.failed(peer, delay, err).await);
            }
            if self.keys(Keys::password).await?.is_some() {
                return Err(Error::new(
                    Code::Forbidden,
                    "a password is set already; log in with it to change it",
                ));
            }
        }
        password::check_rules(&new)?;
        let phc = self.hash_work(move || password::hash(&new)).await??;
        let revoked = self
            .keys(move |k| k.set_password(&phc, Timestamp::now()))
            .await?;
        if let Ok(mut s) = self.setup.lock() {
            *s = None;
        }
        self.logins_changed();
        log::info!("password changed from {peer}; {revoked} logins revoked");
        self.issue(peer).await
    }

    /// On start: with no password set, makes the one-time setup token and logs the link that
    /// uses it. Returns the link (for tests and the log).
    pub async fn first_start(&self, addresses: &[String]) -> Result<Option<String>, Error> {
        if self.keys(Keys::password).await?.is_some() {
            return Ok(None);
        }
        let (secret, hash) =
            token::generate().map_err(|e| Error::internal(format!("reading random bytes: {e}")))?;
        if let Ok(mut s) = self.setup.lock() {
            *s = Some(hash);
        }
        let base = addresses
            .iter()
            .find(|a| a.starts_with("http"))
            .map_or_else(|| "http://localhost:7700".to_string(), |a| with_hostname(a));
        let link = format!("{base}/?setup={secret}");
        log::warn!(
            "no password is set: open {link} to choose one (or run \"lanterm passwd\"); \
             until then only that link gets in"
        );
        Ok(Some(link))
    }
}

/// `http://0.0.0.0:7700` → `http://<hostname>:7700`: a wildcard address is not somewhere a
/// browser can go, but the board's name on the LAN usually is.
fn with_hostname(address: &str) -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|n| n.trim().to_string())
        .ok()
        .filter(|n| !n.is_empty());
    match name {
        Some(name) => address.replace("0.0.0.0", &name).replace("[::]", &name),
        None => address.to_string(),
    }
}

/// `lanterm passwd`: sets the password in the database at `db` directly (the running service
/// reads it on the next login) and revokes every token. Blocking.
pub fn set_password_offline(db: &std::path::Path, new: &str) -> Result<usize, String> {
    password::check_rules(new).map_err(|e| e.message)?;
    let keys = Keys::open(db)?;
    let phc = password::hash(new).map_err(|e| e.message)?;
    keys.set_password(&phc, Timestamp::now())
        .map_err(|e| e.message)
}
