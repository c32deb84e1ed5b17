//! Counts that must be given back: the session slots `--max-sessions` limits, and the supervise
//! tasks still at work, which shutdown and an upgrade wait for. Each is held by a guard that
//! gives it back when dropped, so no path (an error, an early return, a panic) can forget to.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

use crate::model::error::{Code, Error, Result};

/// The two counts, shared by the guards.
pub(super) struct Slots {
    max: usize,
    /// Sessions started or being started and not yet ended: what `max` limits.
    taken: AtomicUsize,
    /// Supervise tasks at work: a session being started, running, or having its end recorded.
    supervisors: watch::Sender<usize>,
}

/// One of the `--max-sessions` slots, given back when dropped (as the session shows as ended).
pub(super) struct Slot(Arc<Slots>);

/// A supervise task at work, counted until dropped (once the session's end is recorded).
pub(super) struct Supervising(Arc<Slots>);

impl Slots {
    pub(super) fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            taken: AtomicUsize::new(0),
            supervisors: watch::Sender::new(0),
        })
    }

    /// Takes a slot for a new session and counts its supervisor, or says the limit is reached.
    pub(super) fn take(self: &Arc<Self>) -> Result<(Slot, Supervising)> {
        let max = self.max;
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| {
                Error::new(
                    Code::LimitReached,
                    format!("{max} sessions are running, the limit (--max-sessions)"),
                )
            })?;
        Ok((Slot(self.clone()), self.supervising()))
    }

    /// Takes a slot whatever the limit (a session adopted across an upgrade is running already).
    pub(super) fn force(self: &Arc<Self>) -> (Slot, Supervising) {
        self.taken.fetch_add(1, Ordering::AcqRel);
        (Slot(self.clone()), self.supervising())
    }

    fn supervising(self: &Arc<Self>) -> Supervising {
        self.supervisors.send_modify(|n| *n += 1);
        Supervising(self.clone())
    }

    /// Follows how many supervise tasks are at work.
    pub(super) fn supervisors(&self) -> watch::Receiver<usize> {
        self.supervisors.subscribe()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Supervising {
    fn drop(&mut self) {
        self.0.supervisors.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_supervisors_come_back_when_their_guards_go() {
        let slots = Slots::new(2);
        let a = slots.take().expect("a first slot");
        let b = slots.take().expect("a second slot");
        let refused = slots.take().err().expect("over the limit");
        assert_eq!(refused.code, Code::LimitReached);
        let forced = slots.force();
        assert_eq!(*slots.supervisors().borrow(), 3);
        drop(a.0); // the session ended; its supervisor still records it
        assert_eq!(*slots.supervisors().borrow(), 3);
        assert!(slots.take().is_err(), "the forced slot still counts");
        drop(forced);
        let c = slots.take().expect("a slot given back");
        drop((a.1, b, c));
        assert_eq!(*slots.supervisors().borrow(), 0);
        assert_eq!(slots.taken.load(Ordering::Acquire), 0);
    }
}
