//! What the writer shares with the rest of the service: each session's [`Progress`] (what is
//! committed), the store's [`Health`] and the counters behind it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// What the writer has made durable for one session; shared with the session's readers.
#[derive(Debug)]
pub struct Progress {
    /// Output offset up to which everything the writer received is committed.
    pub(super) stored_end: watch::Sender<u64>,
    /// The oldest offset the store still holds for the session.
    pub(super) history_start: AtomicU64,
    /// A client is attached: what it is shown should not wait for the flush interval.
    watched: AtomicBool,
}

impl Progress {
    pub(super) fn new(stored_end: u64, history_start: u64) -> Arc<Progress> {
        Arc::new(Progress {
            stored_end: watch::Sender::new(stored_end),
            history_start: AtomicU64::new(history_start),
            watched: AtomicBool::new(false),
        })
    }
    /// Says whether clients are attached (the session sets it as it offers output).
    pub fn set_watched(&self, watched: bool) {
        self.watched.store(watched, Ordering::Relaxed);
    }
    pub fn stored_end(&self) -> u64 {
        *self.stored_end.borrow()
    }
    pub fn history_start(&self) -> u64 {
        self.history_start.load(Ordering::Relaxed)
    }
    pub(crate) fn watched(&self) -> bool {
        self.watched.load(Ordering::Relaxed)
    }
    /// Wakes when more output has been committed.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.stored_end.subscribe()
    }
}

/// The store's condition, for the health endpoint and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ok: bool,
    pub last_error: Option<String>,
    pub path: PathBuf,
    /// Database file plus its write-ahead log, in bytes.
    pub size_bytes: u64,
    /// Output received by the writer and not yet committed.
    pub pending_bytes: u64,
    /// Output bytes committed since the service started.
    pub committed_bytes: u64,
    /// Bytes the writer thread handed to the kernel (database, WAL and checkpoints).
    pub disk_write_bytes: u64,
    /// Output bytes that never reached the store (queue full or over the pending bound).
    pub dropped_bytes: u64,
    /// Transactions committed since the service started.
    pub commits: u64,
    /// Stored output in the file (compressed sizes), what `--store-max-bytes` bounds.
    pub stored_bytes: u64,
    /// Terminal output read from every session since the service started.
    pub output_bytes: u64,
    /// Failed commits and deletes since the service started (and damage found).
    pub errors: u64,
    /// What showed the file damaged (a read that failed, `quick_check`), if anything did.
    pub damaged: Option<String>,
}

/// Counters the writer thread updates and anyone may read.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) ok: AtomicBool,
    pub(super) last_error: Mutex<Option<String>>,
    pub(super) pending_bytes: AtomicU64,
    pub(super) committed_bytes: AtomicU64,
    pub(super) disk_write_bytes: AtomicU64,
    pub(super) dropped_bytes: AtomicU64,
    /// Output bytes queued for the writer and not yet taken by it.
    pub(super) in_flight: AtomicU64,
    /// Signalled each time the writer takes output from the queue (room for more).
    pub(super) space: tokio::sync::Notify,
    pub(super) commits: AtomicU64,
    pub(super) stored_bytes: AtomicU64,
    pub(super) output_bytes: AtomicU64,
    pub(super) errors: AtomicU64,
    /// The first sign of damage in the file (see `check`); never cleared while running.
    pub(super) damaged: Mutex<Option<String>>,
}
