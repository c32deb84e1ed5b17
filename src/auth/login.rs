//! Logging in and out, and setting the password: through the API (`POST /api/login`,
//! `/api/logout`, `/api/password`, including the first-run setup token) and from
//! `lanterm passwd`. Argon2 runs off the async threads, one at a time, one per client address in
//! the queue (`hasher`); attempts are counted per address by the `limiter` from when they are
//! let in.

use std::time::{Duration, Instant};

use super::{Caller, Gate, Keys, Peer, limiter, password, token, unauthorized};
use crate::model::clock::Timestamp;
use crate::model::error::{Code, Error};

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
    /// Issues a token to `peer`, recorded in the database, with a cookie for an HTTPS page
    /// when `secure`.
    async fn issue(&self, peer: Peer, secure: bool) -> Result<Issued, Error> {
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
            cookie: token::cookie(&secret, self.token_lifetime, secure),
            token: secret,
            expires_at,
        })
    }

    /// The `Set-Cookie` values that log a browser out: the plain cookie, and for an HTTPS page
    /// the `__Host-` one too.
    pub fn clear_cookies(&self, secure: bool) -> Vec<String> {
        let mut out = vec![token::clear_cookie(false)];
        if secure {
            out.push(token::clear_cookie(true));
        }
        out
    }

    /// Runs Argon2 (`f`) on the password thread in `peer`'s lane, waiting at most
    /// [`HASH_QUEUE_WAIT`] for its turn.
    async fn hash_work<T: Send + 'static>(
        &self,
        peer: Peer,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.hasher.run(peer.ip(), HASH_QUEUE_WAIT, f).await
    }

    /// Asks the limiter to let in an attempt from `peer`: 429 while it is locked out (or its
    /// burst has used up the attempts); else the attempt, counted until it ends.
    fn attempt(&self, peer: Peer) -> Result<Attempt<'_>, Error> {
        let verdict = match self.limiter.lock() {
            Ok(mut l) => l.admit(peer.ip(), Instant::now()),
            Err(_) => return Err(Error::internal("the login limiter is broken")),
        };
        match verdict {
            limiter::Verdict::Try { delay_if_wrong } => Ok(Attempt {
                gate: self,
                peer,
                delay: delay_if_wrong,
                open: true,
            }),
            limiter::Verdict::Refuse { retry_after } => Err(Error::new(
                Code::TooManyRequests,
                format!(
                    "too many failed logins from {peer}; try again in {} seconds",
                    retry_after.as_secs_f64().ceil().max(1.0)
                ),
            )),
        }
    }

    /// `POST /api/login`: checks the password and issues a token. While no password is set
    /// the answer is a wrong password's, after the same work, so it does not tell anyone so.
    pub async fn login(&self, given: String, peer: Peer, secure: bool) -> Result<Issued, Error> {
        let attempt = self.attempt(peer)?;
        let stored = self.keys(Keys::password).await?;
        let ok = given.len() <= password::MAX_LEN
            && match stored {
                Some(stored) => {
                    self.hash_work(peer, move || password::verify(&given, &stored))
                        .await?
                }
                None => {
                    self.hash_work(peer, move || password::hash(&given).map(|_| false))
                        .await??
                }
            };
        if !ok {
            return Err(attempt.wrong(unauthorized("wrong password")).await);
        }
        attempt.right();
        log::info!("login from {peer}");
        self.issue(peer, secure).await
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
    /// with a fresh one. Allowed to a logged-in `caller` who gives the `current` password (a
    /// stolen cookie alone cannot make itself permanent), or with the first-run `setup` token
    /// while no password is set. Never under `--no-auth`, where anyone could choose it.
    pub async fn set_password(
        &self,
        new: String,
        secret: Secret,
        caller: Option<&Caller>,
        peer: Peer,
        secure: bool,
    ) -> Result<Issued, Error> {
        if self.no_auth {
            return Err(Error::new(
                Code::Forbidden,
                "this service runs without logins (--no-auth): there is no password to set",
            ));
        }
        match caller {
            None => self.check_setup(secret.setup, peer).await?,
            Some(_) => self.check_current(secret.current, &new, peer).await?,
        }
        password::check_rules(&new)?;
        let phc = self.hash_work(peer, move || password::hash(&new)).await??;
        let revoked = self
            .keys(move |k| k.set_password(&phc, Timestamp::now()))
            .await?;
        if let Ok(mut s) = self.setup.lock() {
            *s = None;
        }
        self.logins_changed();
        log::info!("password changed from {peer}; {revoked} logins revoked");
        self.issue(peer, secure).await
    }

    /// Without a login: the first-run setup token must be right, and no password set yet.
    async fn check_setup(&self, setup: Option<String>, peer: Peer) -> Result<(), Error> {
        let attempt = self.attempt(peer)?;
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
            return Err(attempt.wrong(err).await);
        }
        drop(attempt); // a right setup token is not a login: the count stays as it was
        if self.keys(Keys::password).await?.is_some() {
            return Err(Error::new(
                Code::Forbidden,
                "a password is set already; log in with it to change it",
            ));
        }
        Ok(())
    }

    /// Logged in: the password in force must be given (`400` without, `401` wrong, counted as
    /// a failed login). The new one's rules are checked first, so a typo costs no attempt.
    async fn check_current(
        &self,
        current: Option<String>,
        new: &str,
        peer: Peer,
    ) -> Result<(), Error> {
        let Some(stored) = self.keys(Keys::password).await? else {
            return Ok(()); // nothing to prove (no password exists to be replaced)
        };
        let current = current.ok_or_else(|| {
            Error::bad_request(
                "changing the password needs \"current_password\": the password in force",
            )
        })?;
        password::check_rules(new)?;
        let attempt = self.attempt(peer)?;
        let ok = current.len() <= password::MAX_LEN
            && self
                .hash_work(peer, move || password::verify(&current, &stored))
                .await?;
        if !ok {
            return Err(attempt
                .wrong(unauthorized("the current password is wrong"))
                .await);
        }
        attempt.right();
        Ok(())
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
        // In the fragment: it never leaves the browser in a request line (logs, proxies).
        let link = format!("{base}/#setup={secret}");
        log::warn!(
            "no password is set: open {link} to choose one (or run \"lanterm passwd\"); \
             until then only that link gets in"
        );
        Ok(Some(link))
    }
}

/// What proves the right to set the password: the first-run setup token, or (logged in) the
/// password in force.
#[derive(Default)]
pub struct Secret {
    pub setup: Option<String>,
    pub current: Option<String>,
}

/// A login attempt the limiter let in, counted as in flight until it ends; dropped unfinished
/// (the client went away, an error) it counts as nothing.
struct Attempt<'a> {
    gate: &'a Gate,
    peer: Peer,
    delay: Duration,
    open: bool,
}

impl Attempt<'_> {
    fn end(&mut self, outcome: limiter::Outcome) {
        if std::mem::take(&mut self.open)
            && let Ok(mut l) = self.gate.limiter.lock()
        {
            l.finish(self.peer.ip(), outcome, Instant::now());
        }
    }

    /// A right password: the address's count is cleared.
    fn right(mut self) {
        self.end(limiter::Outcome::Right);
    }

    /// A wrong one: counted, then the answer (`err`) waits the delay the limiter asked for.
    async fn wrong(mut self, err: Error) -> Error {
        self.end(limiter::Outcome::Wrong);
        log::warn!("failed login from {}", self.peer);
        tokio::time::sleep(self.delay).await;
        err
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.end(limiter::Outcome::Unknown);
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
