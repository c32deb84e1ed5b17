//! Unit tests of the login limiter (a file of their own to keep `limiter.rs` short).

use super::*;

fn v4(n: u32) -> Option<IpAddr> {
    Some(IpAddr::V4(n.into()))
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

/// One attempt from `who` that turns out wrong; the delay it was given.
fn fail(l: &mut Limiter, who: Option<IpAddr>, now: Instant) -> Duration {
    match l.admit(who, now) {
        Verdict::Try { delay_if_wrong } => {
            l.finish(who, Outcome::Wrong, now);
            delay_if_wrong
        }
        Verdict::Refuse { .. } => panic!("{who:?} refused too early"),
    }
}

#[test]
fn slows_then_refuses_then_forgives_after_the_window() {
    let window = Duration::from_secs(60);
    let mut l = Limiter::new(16, 5, window);
    let t0 = Instant::now();
    let delays: Vec<u128> = (0..5)
        .map(|_| fail(&mut l, v4(1), t0).as_millis())
        .collect();
    assert_eq!(delays, [0, 0, 0, 250, 500]);
    let later = t0 + Duration::from_secs(10);
    assert_eq!(
        l.admit(v4(1), later),
        Verdict::Refuse {
            retry_after: Duration::from_secs(50)
        }
    );
    assert!(
        matches!(l.admit(v4(2), later), Verdict::Try { .. }),
        "others unaffected"
    );
    l.finish(v4(2), Outcome::Unknown, later);
    assert!(matches!(l.admit(v4(1), t0 + window), Verdict::Try { .. }));
    l.finish(v4(1), Outcome::Right, t0 + window);
    assert!(l.entries.is_empty(), "{:?}", l.entries);
    assert_eq!(delay_after(100), MAX_DELAY);
}

/// The burst bypass: attempts count from the moment they are let in, not when their answer
/// is known.
#[test]
fn a_burst_gets_no_more_than_the_limit_checked() {
    let mut l = Limiter::new(16, 5, Duration::from_secs(60));
    let t0 = Instant::now();
    let admitted = (0..40)
        .filter(|_| matches!(l.admit(v4(7), t0), Verdict::Try { .. }))
        .count();
    assert_eq!(admitted, 5);
    assert_eq!(
        l.admit(v4(7), t0),
        Verdict::Refuse {
            retry_after: Duration::from_secs(1)
        },
        "while the answers are not in, come back soon"
    );
    // Two were never checked (the clients went away): their places come back.
    l.finish(v4(7), Outcome::Unknown, t0);
    l.finish(v4(7), Outcome::Unknown, t0);
    for _ in 0..3 {
        l.finish(v4(7), Outcome::Wrong, t0);
    }
    assert_eq!(fail(&mut l, v4(7), t0), Duration::from_millis(250));
    assert_eq!(fail(&mut l, v4(7), t0), Duration::from_millis(500));
    assert!(
        matches!(l.admit(v4(7), t0), Verdict::Refuse { retry_after } if retry_after.as_secs() == 60)
    );
}

#[test]
fn success_clears_and_the_table_is_bounded() {
    let mut l = Limiter::new(16, 3, Duration::from_secs(60));
    let t0 = Instant::now();
    fail(&mut l, v4(1), t0);
    assert!(matches!(l.admit(v4(1), t0), Verdict::Try { .. }));
    l.finish(v4(1), Outcome::Right, t0);
    assert!(l.entries.is_empty());
    for n in 0..1000 {
        fail(&mut l, v4(n), t0 + Duration::from_millis(u64::from(n)));
    }
    assert_eq!(l.entries.len(), 16);
    assert!(l.entries.contains_key(&Key::V4(999)) && !l.entries.contains_key(&Key::V4(0)));
    // An entry with an attempt in flight is not the one forgotten.
    let mut l = Limiter::new(16, 3, Duration::from_secs(60));
    assert!(matches!(l.admit(v4(5000), t0), Verdict::Try { .. }));
    for n in 0..100 {
        fail(&mut l, v4(n), t0 + Duration::from_millis(u64::from(n) + 1));
    }
    assert!(
        l.entries
            .get(&Key::V4(5000))
            .is_some_and(|e| e.in_flight == 1)
    );
}

#[test]
fn ipv6_locks_out_per_address_and_only_slows_the_64() {
    let attempts = 3;
    let mut l = Limiter::new(1024, attempts, Duration::from_secs(900));
    let t0 = Instant::now();
    let (a, b) = (ip("fe80::1"), ip("fe80::2"));
    for _ in 0..attempts {
        fail(&mut l, a, t0);
    }
    assert!(
        matches!(l.admit(a, t0), Verdict::Refuse { .. }),
        "a is locked out"
    );
    assert!(
        matches!(l.admit(b, t0), Verdict::Try { .. }),
        "another host of the same /64 is not"
    );
    l.finish(b, Outcome::Right, t0);
    // Many addresses of one /64: past 4 x the limit, the /64 gets one attempt per delay.
    let slow_after = attempts * NET_FACTOR;
    for n in 0..(slow_after - attempts) {
        fail(&mut l, ip(&format!("fe80::1:{n:x}")), t0);
    }
    let c = ip("fe80::abcd");
    assert!(matches!(l.admit(c, t0), Verdict::Try { .. }));
    l.finish(c, Outcome::Wrong, t0);
    let refused = l.admit(b, t0);
    assert!(
        matches!(refused, Verdict::Refuse { retry_after } if retry_after == FIRST_DELAY),
        "{refused:?}"
    );
    let later = t0 + FIRST_DELAY;
    assert!(
        matches!(l.admit(b, later), Verdict::Try { .. }),
        "slowed, not locked out"
    );
    l.finish(b, Outcome::Right, later);
    assert!(
        matches!(l.admit(b, later), Verdict::Refuse { retry_after } if retry_after == 2 * FIRST_DELAY),
        "the delay doubles with the /64's failures"
    );
    assert!(
        matches!(l.admit(ip("2001:db8::1"), later), Verdict::Try { .. }),
        "another /64 is not slowed"
    );
    // A burst from many addresses of one /64: in-flight attempts count for the /64 too.
    let mut l = Limiter::new(1024, attempts, Duration::from_secs(900));
    let admitted = (0..200)
        .filter(|n| {
            matches!(
                l.admit(ip(&format!("2001:db8:0:1::{n:x}")), t0),
                Verdict::Try { .. }
            )
        })
        .count();
    assert_eq!(
        admitted as u32,
        slow_after + 1,
        "the limit, then one per delay"
    );
    let mapped = ip("::ffff:192.168.1.5");
    assert_eq!(keys(mapped), keys(ip("192.168.1.5")));
}
