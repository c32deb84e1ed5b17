//! Failed logins per client address. An attempt is counted from the moment it is let in (while
//! its password is checked), so a burst of simultaneous guesses gets no more than
//! `--login-attempts` of them checked. After a few failures each wrong answer is slowed down;
//! past `--login-attempts` within `--login-window` the address gets 429 until its window ends.
//!
//! IPv6: the lockout is per address, since every host of a LAN shares one /64 (link-local
//! fe80::/64 for all). The /64 is only slowed down, past [`NET_FACTOR`] times the limit (failed
//! and in flight): then its addresses together get one attempt per delay (250 ms doubling to
//! 8 s), so a host with a whole /64 of addresses still cannot guess fast (nor fill the password
//! queue), and nobody else on the LAN is locked out.
//!
//! The table is bounded by `--login-table` entries; when full, the entry that failed longest
//! ago (and has no attempt in flight) is forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures before answers start to slow down, the first delay, and the longest.
const FREE_FAILURES: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(8);
/// A /64 is slowed down after this many times `--login-attempts` failures in the window.
pub const NET_FACTOR: u32 = 4;

/// Whom failures are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    V4(u32),
    V6(u128),
    /// An IPv6 /64 prefix: only slowed down.
    Net(u64),
    /// Unix-socket clients: one bucket.
    Local,
}

/// The address's key and, for IPv6, its /64's.
fn keys(ip: Option<IpAddr>) -> (Key, Option<Key>) {
    match ip {
        Some(IpAddr::V4(v4)) => (Key::V4(v4.into()), None),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => (Key::V4(v4.into()), None),
            None => {
                let bits = u128::from(v6);
                (Key::V6(bits), Some(Key::Net((bits >> 64) as u64)))
            }
        },
        None => (Key::Local, None),
    }
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    /// Attempts let in whose answer is not known yet.
    in_flight: u32,
    first: Instant,
    last: Instant,
    /// A slowed-down /64: no attempt before this.
    not_before: Option<Instant>,
}

/// What to do with a login attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password; if it is wrong, answer after `delay_if_wrong`. The attempt is in
    /// flight until [`Limiter::finish`] is called for it.
    Try { delay_if_wrong: Duration },
    /// Answer 429 without checking; the client may try again after this long.
    Refuse { retry_after: Duration },
}

/// How an attempt let in by [`Limiter::admit`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Wrong,
    Right,
    /// Not checked after all (an error, the client went away): counts as nothing.
    Unknown,
}

pub struct Limiter {
    entries: HashMap<Key, Entry>,
    capacity: usize,
    attempts: u32,
    window: Duration,
}

impl Limiter {
    pub fn new(capacity: usize, attempts: u32, window: Duration) -> Limiter {
        Limiter {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            attempts: attempts.max(1),
            window,
        }
    }

    /// Decides about an attempt from `ip` at `now`; a `Try` is counted as in flight.
    pub fn admit(&mut self, ip: Option<IpAddr>, now: Instant) -> Verdict {
        let (addr, net) = keys(ip);
        self.expire(addr, now);
        if let Some(e) = self.entries.get(&addr)
            && e.failures + e.in_flight >= self.attempts
        {
            let retry_after = if e.failures >= self.attempts {
                (e.first + self.window).saturating_duration_since(now)
            } else {
                Duration::from_secs(1) // the burst's answers are not in yet
            };
            return Verdict::Refuse { retry_after };
        }
        if let Some(net) = net {
            self.expire(net, now);
            let slow_after = self.attempts.saturating_mul(NET_FACTOR);
            if let Some(e) = self.entries.get_mut(&net)
                && e.failures + e.in_flight >= slow_after
            {
                if let Some(at) = e.not_before
                    && now < at
                {
                    return Verdict::Refuse {
                        retry_after: at - now,
                    };
                }
                let over = e.failures + e.in_flight - slow_after;
                e.not_before = Some(now + delay_after(FREE_FAILURES + 1 + over));
            }
            self.slot(net, now).in_flight += 1;
        }
        let e = self.slot(addr, now);
        e.in_flight += 1;
        Verdict::Try {
            delay_if_wrong: delay_after(e.failures + e.in_flight),
        }
    }

    /// Ends an attempt `admit` let in: a wrong password counts against the address (and its
    /// /64), a right one clears the address's count (not its /64's).
    pub fn finish(&mut self, ip: Option<IpAddr>, outcome: Outcome, now: Instant) {
        let (addr, net) = keys(ip);
        let both = [Some(addr), net];
        for key in both.into_iter().flatten() {
            if let Some(e) = self.entries.get_mut(&key) {
                e.in_flight = e.in_flight.saturating_sub(1);
            }
        }
        match outcome {
            Outcome::Wrong => {
                for key in both.into_iter().flatten() {
                    self.expire(key, now);
                    let e = self.slot(key, now);
                    e.failures = e.failures.saturating_add(1);
                    e.last = now;
                }
            }
            Outcome::Right => {
                if let Some(e) = self.entries.get_mut(&addr) {
                    e.failures = 0;
                }
            }
            Outcome::Unknown => {}
        }
        for key in both.into_iter().flatten() {
            let idle = |e: &Entry| {
                e.failures == 0 && e.in_flight == 0 && e.not_before.is_none_or(|at| now >= at)
            };
            if self.entries.get(&key).is_some_and(idle) {
                self.entries.remove(&key);
            }
        }
    }

    /// Starts `key`'s window again once it has ended (forgets it when nothing is pending).
    fn expire(&mut self, key: Key, now: Instant) {
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        if now < e.first + self.window {
            return;
        }
        if e.in_flight == 0 && e.not_before.is_none_or(|at| now >= at) {
            self.entries.remove(&key);
        } else {
            e.failures = 0;
            e.first = now;
        }
    }

    /// `key`'s entry, made (and room made for it) when missing.
    fn slot(&mut self, key: Key, now: Instant) -> &mut Entry {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let window = self.window;
            self.entries
                .retain(|_, e| now < e.first + window || e.in_flight > 0);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| (e.in_flight > 0, e.last))
                    .map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.entry(key).or_insert(Entry {
            failures: 0,
            in_flight: 0,
            first: now,
            last: now,
            not_before: None,
        })
    }
}

/// How long the answer to the `n`th failure in a row waits.
fn delay_after(n: u32) -> Duration {
    if n <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (n - FREE_FAILURES - 1).min(16);
    (FIRST_DELAY * 2u32.pow(doublings)).min(MAX_DELAY)
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
