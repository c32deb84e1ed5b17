//! The store: one SQLite file with the session records and their output history.
//!
//! All writing happens on one dedicated thread (`writer`) fed by a bounded channel; terminal
//! output is offered to it with a non-blocking `try_send`, so the async side never waits on
//! SQLite for a terminal byte. Reading stored output uses a second, read-only connection
//! (`reader`) from tokio's blocking pool. If the disk fills up or the file turns unwritable,
//! the store reports itself degraded, keeps a bounded amount pending, and resumes by itself.

mod batch;
mod check;
mod codec;
mod lock;
mod private;
mod reader;
mod schema;
mod sql;
mod state;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::model::error::{Error, Result};
use crate::model::record::SessionInfo;

pub use lock::{inherit as inherit_lock, lock_path};
use private::create_private_file;
pub use reader::Stored;
use state::Shared;
pub use state::{Health, Progress};

/// How the store behaves; from the service configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// Stored output kept per session; older chunks are deleted.
    pub history_bytes: u64,
    /// Stored output kept for all sessions together.
    pub max_bytes: u64,
    /// Longest time output waits in memory before it is committed.
    pub flush_interval: Duration,
    /// Output of a watched session is committed once no watched output came for this long.
    pub commit_idle: Option<Duration>,
    /// A session's pending output that triggers a commit before the interval is up.
    pub flush_bytes: u64,
    /// Bytes of output in flight to the writer thread.
    pub queue_bytes: u64,
    /// Compress stored output (LZ4) where that makes it smaller.
    pub compress: bool,
}

/// Messages the writer's queue holds at most (each also counts against `queue_bytes`).
const QUEUE_MESSAGES: usize = 1024;

enum Msg {
    /// Insert or update a session's record. `progress` comes with a new session.
    Upsert(Box<SessionInfo>, Option<Arc<Progress>>),
    /// Output bytes `[start, start + data.len())` of a session.
    Output { seq: i64, start: u64, data: Vec<u8> },
    /// Remove a session with all its output.
    Delete { seq: i64, done: oneshot::Sender<()> },
    /// Commit everything pending now.
    Flush { done: oneshot::Sender<()> },
    /// A client attached to the session (see `--commit-idle`).
    Watched { seq: i64 },
}

/// A handle to the store. Cheap to share behind an `Arc`.
pub struct Store {
    tx: Mutex<Option<SyncSender<Msg>>>,
    shared: Arc<Shared>,
    queue_bytes: u64,
    config: StoreConfig,
    reader: Arc<reader::Reader>,
    thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
    /// One service per database: held until the writer has finished ([`Store::close`]).
    lock: Mutex<Option<lock::DbLock>>,
    /// Stops the integrity check started with the store, if it is still running.
    check: Mutex<Option<check::Check>>,
}

/// A session loaded from the file at startup, with its progress handle.
pub struct Loaded {
    pub info: SessionInfo,
    pub progress: Arc<Progress>,
}

impl Store {
    /// Opens (or creates) the database, migrates it, turns every session still marked
    /// `running` into `lost`, and starts the writer thread. Blocking: call before serving.
    pub fn open(config: StoreConfig) -> std::result::Result<(Store, Vec<Loaded>), String> {
        // Before anything touches the database: a second service must change nothing.
        private::create_dir(&config.path)?;
        let lock = lock::acquire(&config.path)?;
        schema::check_file(&config.path)?;
        create_private_file(&config.path)?;
        let (conn, loaded) = sql::open(&config.path)?;
        let reader = reader::Reader::open(&config.path)?;
        let shared = Arc::new(Shared::default());
        shared.ok.store(true, Ordering::Relaxed);
        let (tx, rx) = sync_channel(QUEUE_MESSAGES);
        let reserve = lock.reserve();
        let writer_state = writer::Writer::new(config.clone(), &loaded, shared.clone(), reserve)?;
        let thread = std::thread::Builder::new()
            .name("lanterm-store".into())
            .spawn(move || writer_state.run(conn, rx))
            .map_err(|e| format!("starting the store thread: {e}"))?;
        let store = Store {
            tx: Mutex::new(Some(tx)),
            shared,
            queue_bytes: config.queue_bytes,
            config: config.clone(),
            reader: Arc::new(reader),
            thread: Mutex::new(Some(thread)),
            path: config.path,
            lock: Mutex::new(Some(lock)),
            check: Mutex::new(None),
        };
        // Off the start-up path: the service is ready before the check has read the file.
        if let Ok(mut slot) = store.check.lock() {
            *slot = check::spawn(&store.path, store.shared.clone());
        }
        Ok((store, loaded))
    }

    fn sender(&self) -> Option<SyncSender<Msg>> {
        self.tx.lock().ok()?.clone()
    }

    /// Offers output to the writer without waiting; says whether it was queued. When the queue
    /// is full (in messages or in bytes) or the store closed, the caller keeps the bytes (the
    /// session's ring does) to offer them again.
    pub fn offer_output(&self, seq: i64, start: u64, data: Vec<u8>) -> bool {
        let len = data.len() as u64;
        let budget = self.queue_bytes;
        let reserved =
            self.shared
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n + len <= budget).then_some(n + len)
                });
        if reserved.is_err() {
            return false;
        }
        let sent = self
            .sender()
            .is_some_and(|tx| tx.try_send(Msg::Output { seq, start, data }).is_ok());
        if !sent {
            self.shared.in_flight.fetch_sub(len, Ordering::AcqRel);
        }
        sent
    }

    /// A client attached to session `seq`: output it is shown before it is committed gets
    /// committed soon after the session goes quiet (`--commit-idle`). Never waits: with the
    /// queue full, output is flowing and being committed anyway.
    pub fn watching(&self, seq: i64) {
        if let Some(tx) = self.sender() {
            let _ = tx.try_send(Msg::Watched { seq });
        }
    }

    /// Resolves when the writer next takes output from its queue.
    pub fn room(&self) -> tokio::sync::futures::Notified<'_> {
        self.shared.space.notified()
    }

    /// Counts terminal output read from a session (reported in [`Health`]).
    pub fn note_output(&self, bytes: usize) {
        self.shared
            .output_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts output that will never reach the store (reported in [`Health`]).
    pub fn note_dropped(&self, bytes: u64) {
        self.shared
            .dropped_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Sends a message that must not be lost: without waiting if the queue has room, else from
    /// the blocking pool so no async thread ever blocks on the queue.
    async fn send(&self, msg: Msg) -> Result<()> {
        let tx = self
            .sender()
            .ok_or_else(|| Error::internal("the store is closed"))?;
        match tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(msg)) => tokio::task::spawn_blocking(move || tx.send(msg))
                .await
                .map_err(|e| Error::internal(format!("store queue: {e}")))?
                .map_err(|_| Error::internal("the store thread has stopped")),
            Err(TrySendError::Disconnected(_)) => {
                Err(Error::internal("the store thread has stopped"))
            }
        }
    }

    /// Queues output, waiting for room in the queue if need be (for a session's last bytes).
    pub async fn output(&self, seq: i64, start: u64, data: Vec<u8>) -> Result<()> {
        let len = data.len() as u64;
        self.shared.in_flight.fetch_add(len, Ordering::AcqRel);
        let sent = self.send(Msg::Output { seq, start, data }).await;
        if sent.is_err() {
            self.shared.in_flight.fetch_sub(len, Ordering::AcqRel);
        }
        sent
    }

    /// Records a new session; returns the handle through which its progress is reported.
    pub async fn create(&self, info: &SessionInfo) -> Result<Arc<Progress>> {
        let progress = Progress::new(0, 0);
        self.send(Msg::Upsert(Box::new(info.clone()), Some(progress.clone())))
            .await?;
        Ok(progress)
    }

    /// Records a changed session (status, name, size, exit...). Committed with the next flush.
    pub async fn update(&self, info: &SessionInfo) -> Result<()> {
        self.send(Msg::Upsert(Box::new(info.clone()), None)).await
    }

    /// Removes a session and all its stored output; returns once that is committed (or failed).
    pub async fn delete(&self, seq: i64) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.send(Msg::Delete { seq, done }).await?;
        wait.await
            .map_err(|_| Error::internal("the store thread has stopped"))
    }

    /// Commits everything pending; returns once the writer has tried.
    pub async fn flush(&self) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.send(Msg::Flush { done }).await?;
        wait.await
            .map_err(|_| Error::internal("the store thread has stopped"))
    }

    /// Where the output of a session recovered after an unclean stop must go on: past any
    /// offset a client can hold, so no offset is ever delivered twice with different bytes.
    /// Clients are shown output before it is committed: at most the ring's bytes not yet
    /// queued, the queue (`--store-queue`) and the writer's pending bytes (`--flush-bytes`, or
    /// the bound kept while commits fail) beyond the stored end. The skipped range has no
    /// stored bytes, so readers meet it as a `gap`. (Sessions do not survive a crash yet; this
    /// is the rule for when they do.) `in_memory`: the engine's ring capacity.
    pub fn resume_offset(&self, stored_end: u64, in_memory: u64) -> u64 {
        let pending = writer::pending_cap(&self.config).max(self.config.flush_bytes);
        let unstored = in_memory
            .saturating_add(self.config.queue_bytes)
            .saturating_add(pending);
        stored_end.saturating_add(unstored)
    }

    /// The stored ranges of session `seq` within `[from, to)` (merged, in order).
    pub async fn stored_runs(&self, seq: i64, from: u64, to: u64) -> Result<Vec<(u64, u64)>> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || reader.runs(seq, from, to))
            .await
            .map_err(|e| Error::internal(format!("store read: {e}")))?
            .map_err(|e| {
                Error::new(
                    crate::model::error::Code::Unavailable,
                    format!("reading stored output: {e}"),
                )
            })
    }

    /// Reads stored output of session `seq` from offset `from`, at most `max` bytes.
    pub async fn read_output(&self, seq: i64, from: u64, max: usize) -> Result<Stored> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || reader.read(seq, from, max))
            .await
            .map_err(|e| Error::internal(format!("store read: {e}")))?
            .map_err(|e| {
                let message = format!("reading stored output: {e}");
                if check::is_damage(&e) {
                    check::note(&self.shared, &self.path, &format!("session #{seq}: {e}"));
                }
                Error::new(crate::model::error::Code::Unavailable, message)
            })
    }

    /// Stops the writer after it has committed everything queued, and waits for it. Blocking.
    pub fn close(&self) {
        if let Some(check) = self.check.lock().ok().and_then(|mut c| c.take()) {
            check.stop();
        }
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }

    /// A duplicate of the database lock's descriptor (it shares the lock), for an upgrade's
    /// `execve` to keep: the new program goes on holding the lock through it.
    pub fn lock_descriptor(&self) -> Option<std::os::fd::OwnedFd> {
        let lock = self.lock.lock().ok()?;
        lock.as_ref()?.fd().try_clone_to_owned().ok()
    }

    pub fn health(&self) -> Health {
        let s = &self.shared;
        Health {
            ok: s.ok.load(Ordering::Relaxed),
            last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
            path: self.path.clone(),
            size_bytes: file_len(&self.path) + file_len(&wal_path(&self.path)),
            pending_bytes: s.pending_bytes.load(Ordering::Relaxed),
            committed_bytes: s.committed_bytes.load(Ordering::Relaxed),
            disk_write_bytes: s.disk_write_bytes.load(Ordering::Relaxed),
            dropped_bytes: s.dropped_bytes.load(Ordering::Relaxed),
            commits: s.commits.load(Ordering::Relaxed),
            stored_bytes: s.stored_bytes.load(Ordering::Relaxed),
            output_bytes: s.output_bytes.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            damaged: s.damaged.lock().ok().and_then(|d| d.clone()),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn wal_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// A connection of its own to the database at `path` (created private if missing, migrated),
/// for the parts that keep small records beside the output: logins (`auth::keys`) and
/// `lanterm passwd`. Blocking.
pub fn connect(path: &Path) -> std::result::Result<rusqlite::Connection, String> {
    schema::check_file(path)?;
    create_private_file(path)?;
    let mut conn =
        rusqlite::Connection::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    schema::prepare(&mut conn).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(conn)
}

/// Bytes this thread has passed to `write(2)` and friends, from `/proc/thread-self/io`.
pub(super) fn thread_write_bytes() -> u64 {
    std::fs::read_to_string("/proc/thread-self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}
