//! Failed logins per client address: after a few, each answer is slowed down; past
//! `--login-attempts` within `--login-window` the address gets 429 until its window ends.
//! IPv6 clients are counted per /64 (one host usually holds a whole /64). The table is bounded
//! by `--login-table` addresses; when full, the address that failed longest ago is forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures before answers start to slow down, the first delay, and the longest.
const FREE_FAILURES: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(8);

/// Whom failures are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    V4(u32),
    /// The /64 prefix.
    V6(u64),
    /// Unix-socket clients: one bucket.
    Local,
}

impl Key {
    pub fn of(ip: Option<IpAddr>) -> Key {
        match ip {
            Some(IpAddr::V4(v4)) => Key::V4(v4.into()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Key::V4(v4.into()),
                None => Key::V6((u128::from(v6) >> 64) as u64),
            },
            None => Key::Local,
        }
    }
}

struct Entry {
    failures: u32,
    first: Instant,
    last: Instant,
}

/// What to do with a login attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password; if it is wrong, answer after `delay_if_wrong`.
    Try { delay_if_wrong: Duration },
    /// Answer 429 without checking; the client may try again after this long.
    Refuse { retry_after: Duration },
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

    /// Decides about an attempt from `key` at `now`.
    pub fn check(&mut self, key: Key, now: Instant) -> Verdict {
        let window = self.window;
        let Some(e) = self.entries.get(&key) else {
            return Verdict::Try {
                delay_if_wrong: Duration::ZERO,
            };
        };
        let ends = e.first + window;
        if now >= ends {
            self.entries.remove(&key);
            return Verdict::Try {
                delay_if_wrong: Duration::ZERO,
            };
        }
        if e.failures >= self.attempts {
            return Verdict::Refuse {
                retry_after: ends - now,
            };
        }
        Verdict::Try {
            delay_if_wrong: delay_after(e.failures + 1),
        }
    }

    /// Counts a failed attempt.
    pub fn failed(&mut self, key: Key, now: Instant) {
        let window = self.window;
        if let Some(e) = self.entries.get_mut(&key) {
            if now >= e.first + window {
                *e = Entry {
                    failures: 0,
                    first: now,
                    last: now,
                };
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| now < e.first + window);
        }
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| *k)
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(
            key,
            Entry {
                failures: 1,
                first: now,
                last: now,
            },
        );
    }

    /// A correct password clears the address's record.
    pub fn succeeded(&mut self, key: Key) {
        self.entries.remove(&key);
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
mod tests {
    use super::*;

    fn key(n: u32) -> Key {
        Key::V4(n)
    }

    #[test]
    fn slows_then_refuses_then_forgives_after_the_window() {
        let window = Duration::from_secs(60);
        let mut l = Limiter::new(16, 5, window);
        let t0 = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..5 {
            match l.check(key(1), t0) {
                Verdict::Try { delay_if_wrong } => delays.push(delay_if_wrong.as_millis()),
                Verdict::Refuse { .. } => panic!("refused too early"),
            }
            l.failed(key(1), t0);
        }
        assert_eq!(delays, [0, 0, 0, 250, 500]);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            l.check(key(1), later),
            Verdict::Refuse {
                retry_after: Duration::from_secs(50)
            }
        );
        assert!(
            matches!(l.check(key(2), later), Verdict::Try { .. }),
            "others unaffected"
        );
        assert!(matches!(l.check(key(1), t0 + window), Verdict::Try { .. }));
        assert!(l.entries.is_empty());
        assert_eq!(delay_after(100), MAX_DELAY);
    }

    #[test]
    fn success_clears_and_the_table_is_bounded() {
        let mut l = Limiter::new(16, 3, Duration::from_secs(60));
        let t0 = Instant::now();
        l.failed(key(1), t0);
        l.succeeded(key(1));
        assert!(l.entries.is_empty());
        for n in 0..1000 {
            l.failed(key(n), t0 + Duration::from_millis(u64::from(n)));
        }
        assert_eq!(l.entries.len(), 16);
        assert!(l.entries.contains_key(&key(999)) && !l.entries.contains_key(&key(0)));
    }

    #[test]
    fn ipv6_counts_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Key::of(Some(a)), Key::of(Some(b)));
        assert_ne!(Key::of(Some(a)), Key::of(Some(c)));
        let mapped: IpAddr = "::ffff:192.168.1.5".parse().unwrap();
        assert_eq!(
            Key::of(Some(mapped)),
            Key::of(Some("192.168.1.5".parse().unwrap()))
        );
    }
}
