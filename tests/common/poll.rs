//! Waiting for state that settles asynchronously and announces nothing (a client count after a
//! close, a status, a counter, a file another process writes): read it again and again until
//! it is what the test expects, and fail with the last value read once a deadline has passed.
//! Never a single read right after the action, never a sleep of a guessed length.
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::{Duration, Instant};

/// The pause between two reads: short next to any deadline, long next to a loopback request.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Reads `read()` until `done` holds for the value (which is returned), at most `deadline`
/// long; a failure names `what` and shows the last value read. Blocks the thread: in async
/// tests whose own tasks must run meanwhile, use [`poll_until_async`].
pub fn poll_until<T: Debug>(
    deadline: Duration,
    what: &str,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let end = Instant::now() + deadline;
    loop {
        let value = read();
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < end,
            "{what}: not within {deadline:?}; last read {value:?}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// [`poll_until`] for an exact value.
pub fn poll_eq<T: Debug + PartialEq>(
    deadline: Duration,
    what: &str,
    read: impl FnMut() -> T,
    want: T,
) -> T {
    poll_until(deadline, what, read, |v| *v == want)
}

/// [`poll_until`] that sleeps on the runtime's timer, so other tasks (an in-process engine, a
/// client) go on meanwhile; `read` may await.
pub async fn poll_until_async<T: Debug>(
    deadline: Duration,
    what: &str,
    mut read: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let end = Instant::now() + deadline;
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < end,
            "{what}: not within {deadline:?}; last read {value:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
