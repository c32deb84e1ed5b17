//! How long a connection's login lasts: long-lived connections (WebSockets, event streams) wait
//! on [`Gate::until_login_ends`] and close when it resolves, at the token's expiry (known when
//! the request was let in) or at a revocation (logout, a new password, `lanterm passwd`, or
//! being pushed out by a newer login past `--max-tokens`), whichever comes first.

use std::time::Duration;

use super::{Caller, Gate};
use crate::model::clock::Timestamp;

/// Wall-clock expiry is looked at again at least this often: the clock may be set while a
/// connection is open (a board without a battery-backed clock syncs it after boot), and a
/// monotonic sleep to a wall-clock time would then be off.
const RECHECK: Duration = Duration::from_secs(60);

/// Why a login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginEnd {
    /// Its token reached `--token-lifetime`.
    Expired,
    /// Its token was revoked or pushed out.
    Revoked,
}

impl LoginEnd {
    /// The reason a WebSocket's close frame gives.
    pub fn reason(self) -> &'static str {
        match self {
            LoginEnd::Expired => "login expired",
            LoginEnd::Revoked => "login revoked",
        }
    }
}

/// Seconds from now until `expires` (0 when past).
fn seconds_until(expires: Timestamp) -> u64 {
    u64::try_from(expires.0.saturating_sub(Timestamp::now().0)).unwrap_or(0)
}

impl Gate {
    /// Resolves once `caller`'s login has ended, saying why (never for callers without a
    /// token, i.e. under `--no-auth`).
    pub async fn until_login_ends(&self, caller: &Caller) -> LoginEnd {
        let (Some(hash), Some(mut expires)) = (caller.token, caller.expires) else {
            return std::future::pending().await;
        };
        let mut changes = caller.revocations.clone();
        loop {
            let left = seconds_until(expires);
            if left == 0 {
                return LoginEnd::Expired;
            }
            let nap = Duration::from_secs(left).min(RECHECK);
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        // Not reached: the sender lives in the gate, borrowed here.
                        return LoginEnd::Revoked;
                    }
                    let live = self
                        .keys(move |k| k.live_until(&hash, Timestamp::now()))
                        .await;
                    match live {
                        Ok(Some(e)) => expires = e,
                        Ok(None) if seconds_until(expires) == 0 => return LoginEnd::Expired,
                        Ok(None) => return LoginEnd::Revoked,
                        // The records cannot be read right now: the next change or the expiry
                        // decides.
                        Err(e) => log::warn!("checking an open connection's login: {e}"),
                    }
                }
                () = tokio::time::sleep(nap) => {}
            }
        }
    }
}
