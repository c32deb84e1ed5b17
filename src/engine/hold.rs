//! How an upgrade holds the engine still: sessions being started are waited for and no new one
//! starts, and every supervise task hands what it has read to the store and stops reading until
//! the upgrade lets go. Each side holds a guard that lets go when dropped.

use std::sync::Arc;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, watch};

pub(super) struct Hold {
    /// Held (shared) while a session starts; an upgrade holds it exclusively.
    starting: Arc<RwLock<()>>,
    /// `true` while an upgrade asks the supervise tasks to hold still.
    asked: watch::Sender<bool>,
    /// Supervise tasks holding still now.
    holding: watch::Sender<usize>,
}

/// A session being started: an upgrade waits until it is dropped.
pub(super) type Starting = OwnedRwLockReadGuard<()>;

/// The engine asked to hold still, with no session starting; dropping it lets everything go on.
pub(super) struct Still {
    asked: watch::Sender<bool>,
    _no_start: OwnedRwLockWriteGuard<()>,
}

/// One supervise task holding still, counted until dropped.
pub(super) struct Holding(watch::Sender<usize>);

impl Hold {
    pub(super) fn new() -> Hold {
        Hold {
            starting: Arc::new(RwLock::new(())),
            asked: watch::Sender::new(false),
            holding: watch::Sender::new(0),
        }
    }

    /// Waits while an upgrade holds the engine still, then marks a session as starting.
    pub(super) async fn starting(&self) -> Starting {
        self.starting.clone().read_owned().await
    }

    /// Waits for the sessions being started, then asks every supervise task to hold still.
    pub(super) async fn ask(&self) -> Still {
        let no_start = self.starting.clone().write_owned().await;
        self.asked.send_replace(true);
        Still {
            asked: self.asked.clone(),
            _no_start: no_start,
        }
    }

    /// Follows whether an upgrade asks the supervise tasks to hold still.
    pub(super) fn asked(&self) -> watch::Receiver<bool> {
        self.asked.subscribe()
    }

    /// Counts the calling supervise task as holding still until the guard is dropped.
    pub(super) fn holding(&self) -> Holding {
        self.holding.send_modify(|n| *n += 1);
        Holding(self.holding.clone())
    }

    /// Follows how many supervise tasks hold still.
    pub(super) fn held(&self) -> watch::Receiver<usize> {
        self.holding.subscribe()
    }
}

impl Drop for Still {
    fn drop(&mut self) {
        self.asked.send_replace(false);
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}
