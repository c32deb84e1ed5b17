//! The writer thread: batches output and record changes into one transaction per flush.
//!
//! Output arrives as `(session, start offset, bytes)` and waits in per-session pending segments
//! until the flush interval is up or a session's pending bytes reach the threshold; then one
//! transaction writes every pending record change and output chunk, trims each session to its
//! history cap and the whole file to the global cap. A failed commit (disk full, file
//! unwritable) is rolled back, logged once, reported through [`Shared`], and retried at the next
//! interval with the pending bytes kept, up to a bound.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use rusqlite::Connection;

use super::batch::{Committed, Scope, SessionCommit};
use super::lock::Reserve;
use super::sql::{self, Tail, delete_session};
use super::{Loaded, Msg, Progress, Shared, StoreConfig, thread_write_bytes};
use crate::model::record::SessionInfo;

/// Output received for one session and not committed yet, as contiguous segments.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) segments: VecDeque<(u64, Vec<u8>)>,
    pub(super) bytes: u64,
}

impl Pending {
    /// Drops the first `n` bytes (committed, or given up); returns how many there were.
    pub(super) fn consume(&mut self, mut n: u64) -> u64 {
        let mut done = 0;
        while n > 0 {
            let Some((start, buf)) = self.segments.front_mut() else {
                break;
            };
            let k = (n as usize).min(buf.len());
            buf.drain(..k);
            *start += k as u64;
            self.bytes -= k as u64;
            n -= k as u64;
            done += k as u64;
            if buf.is_empty() {
                self.segments.pop_front();
            }
        }
        done
    }
}

pub(super) struct SessionState {
    pub(super) progress: Arc<Progress>,
    pub(super) pending: Pending,
    /// Committed state: end of stored output, oldest stored offset, newest chunk.
    pub(super) stored_end: u64,
    pub(super) history_start: u64,
    pub(super) tail: Option<Tail>,
}

pub(super) struct Writer {
    pub(super) config: StoreConfig,
    pub(super) shared: Arc<Shared>,
    pub(super) sessions: HashMap<i64, SessionState>,
    /// Record changes waiting for the next commit, by seq (the latest wins).
    pub(super) records: HashMap<i64, SessionInfo>,
    /// Sum of the lengths of all stored chunks.
    pub(super) total_stored: u64,
    /// When the oldest uncommitted change arrived.
    dirty_since: Option<Instant>,
    /// When to commit if no more watched output comes (`--commit-idle`).
    quiet_due: Option<Instant>,
    /// Bound on a session's pending bytes while commits fail.
    pending_cap: u64,
    /// Disk space kept for the session records when the disk is full (`lock::Reserve`).
    pub(super) reserve: Option<Reserve>,
}

/// Most output a session keeps pending while commits fail (its oldest bytes go first).
pub(super) fn pending_cap(config: &StoreConfig) -> u64 {
    config.flush_bytes.saturating_mul(4).max(1 << 20)
}

impl Writer {
    pub(super) fn new(
        config: StoreConfig,
        loaded: &[Loaded],
        shared: Arc<Shared>,
        reserve: Option<Reserve>,
    ) -> Result<Writer, String> {
        let sessions = loaded
            .iter()
            .map(|l| {
                let state = SessionState {
                    progress: l.progress.clone(),
                    pending: Pending::default(),
                    stored_end: l.info.output_bytes,
                    history_start: l.info.history_start,
                    tail: None,
                };
                (l.info.seq, state)
            })
            .collect();
        let pending_cap = pending_cap(&config);
        Ok(Writer {
            config,
            shared,
            sessions,
            records: HashMap::new(),
            total_stored: 0, // measured by `run`, off the start-up path
            dirty_since: None,
            quiet_due: None,
            pending_cap,
            reserve,
        })
    }

    /// The thread's body: runs until every sender is gone, then commits what is left.
    pub(super) fn run(mut self, mut conn: Connection, rx: Receiver<Msg>) {
        // Measured here rather than before the service is ready: the sum reads every leaf page
        // of the output table (1000 sessions of 64 KB: ~2600 pages, 22-65 ms with a cold page
        // cache on the build machine, far more from an SD card). Nothing is handled before it.
        match sql::total_stored(&conn) {
            Ok(n) => self.set_total_stored(n),
            Err(e) => log::error!(
                "store: cannot measure stored output (--store-max-bytes counts from 0): {e}"
            ),
        }
        loop {
            let msg = match self.dirty_since {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(since) => {
                    let mut due = since + self.config.flush_interval;
                    if let Some(quiet) = self.quiet_due {
                        due = due.min(quiet);
                    }
                    rx.recv_timeout(due.saturating_duration_since(Instant::now()))
                }
            };
            match msg {
                Ok(msg) => self.handle(&mut conn, msg),
                Err(RecvTimeoutError::Timeout) => self.flush(&mut conn),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.flush(&mut conn);
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
            log::warn!("store: final checkpoint failed: {e}");
        }
        self.shared
            .disk_write_bytes
            .store(thread_write_bytes(), Ordering::Relaxed);
        if let Err((_, e)) = conn.close() {
            log::warn!("store: closing the database failed: {e}");
        }
    }

    fn mark_dirty(&mut self) {
        self.dirty_since.get_or_insert_with(Instant::now);
    }

    fn handle(&mut self, conn: &mut Connection, msg: Msg) {
        match msg {
            Msg::Output { seq, start, data } => {
                let len = data.len() as u64;
                self.shared.in_flight.fetch_sub(len, Ordering::AcqRel);
                self.shared.space.notify_waiters();
                if self.append(seq, start, data) {
                    self.flush(conn);
                }
            }
            Msg::Upsert(info, progress) => {
                if let Some(progress) = progress {
                    let state = SessionState {
                        progress,
                        pending: Pending::default(),
                        stored_end: 0,
                        history_start: 0,
                        tail: None,
                    };
                    self.sessions.insert(info.seq, state);
                } else if !self.sessions.contains_key(&info.seq) {
                    return; // a late change to a session deleted meanwhile: do not revive it
                }
                self.records.insert(info.seq, *info);
                // Record changes are rare and matter (an exit, a rename): commit them promptly.
                self.mark_dirty();
                self.flush(conn);
            }
            Msg::Delete { seq, done } => {
                self.flush(conn);
                self.records.remove(&seq);
                if let Some(state) = self.sessions.remove(&seq) {
                    self.shared
                        .pending_bytes
                        .fetch_sub(state.pending.bytes, Ordering::Relaxed);
                }
                match delete_session(conn, seq) {
                    Ok(freed) => {
                        self.set_total_stored(self.total_stored.saturating_sub(freed));
                        // Give the space back to the file system (without rewriting the file).
                        if let Err(e) = sql::reclaim(conn) {
                            log::warn!("store: reclaiming free space failed: {e}");
                        }
                    }
                    Err(e) => self.failed(&format!("deleting session #{seq}: {e}")),
                }
                let _ = done.send(());
            }
            Msg::Flush { done } => {
                self.flush(conn);
                let _ = done.send(());
            }
            Msg::Watched { seq } => self.watched(seq),
        }
    }

    /// A client attached to session `seq`: what it is shown from memory (pending here) is
    /// committed once the session is quiet, as its new output will be.
    fn watched(&mut self, seq: i64) {
        let Some(state) = self.sessions.get(&seq) else {
            return;
        };
        state.progress.set_watched(true);
        if let (true, Some(idle)) = (state.pending.bytes > 0, self.config.commit_idle) {
            let due = Instant::now() + idle;
            self.quiet_due = Some(self.quiet_due.map_or(due, |d| d.min(due)));
        }
    }

    /// Queues output; returns whether the session's pending bytes call for a commit now.
    fn append(&mut self, seq: i64, start: u64, data: Vec<u8>) -> bool {
        let Some(state) = self.sessions.get_mut(&seq) else {
            return false; // deleted meanwhile
        };
        let pending = &mut state.pending;
        let len = data.len() as u64;
        match pending.segments.back_mut() {
            Some((s, buf)) if *s + buf.len() as u64 == start => buf.extend_from_slice(&data),
            _ => pending.segments.push_back((start, data)),
        }
        pending.bytes += len;
        self.shared.pending_bytes.fetch_add(len, Ordering::Relaxed);
        // While commits fail, keep only the newest bytes: memory stays bounded.
        let cap = self.pending_cap.min(self.config.history_bytes);
        let dropped = pending.consume(pending.bytes.saturating_sub(cap));
        let due = pending.bytes >= self.config.flush_bytes;
        // Output a client was shown: committed once it has been quiet a moment, so a crash
        // loses little of what clients hold; while it flows it is batched as any other.
        if let (true, Some(idle)) = (state.progress.watched(), self.config.commit_idle) {
            self.quiet_due = Some(Instant::now() + idle);
        }
        self.note_dropped(dropped);
        self.mark_dirty();
        due && self.shared.ok.load(Ordering::Relaxed)
    }

    /// Commits all pending record changes and output in one transaction; while the store is
    /// degraded, in small steps instead (`batch::recover`).
    fn flush(&mut self, conn: &mut Connection) {
        if self.dirty_since.is_none() {
            return;
        }
        let done = if self.shared.ok.load(Ordering::Relaxed) {
            match self.commit(conn, Scope::All) {
                Ok(()) => true,
                Err(e) => {
                    self.failed(&e.to_string());
                    // The records alone are a few bytes: they may fit where the batch did not.
                    // The output is tried again at the next interval.
                    self.commit_records(conn);
                    false
                }
            }
        } else {
            self.recover(conn)
        };
        if done {
            self.dirty_since = None;
            self.quiet_due = None;
            self.healthy();
        } else {
            // Retry after another interval, not in a tight loop.
            self.dirty_since = Some(Instant::now());
            self.quiet_due = None;
        }
        self.shared
            .disk_write_bytes
            .store(thread_write_bytes(), Ordering::Relaxed);
    }

    /// One transaction of `scope`, applied to the state once committed.
    pub(super) fn commit(&mut self, conn: &mut Connection, scope: Scope) -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        let c = self.write(&tx, scope)?;
        tx.commit()?;
        self.committed(c);
        Ok(())
    }

    /// Counts output that will never be stored (given up while commits failed).
    pub(super) fn note_dropped(&self, dropped: u64) {
        if dropped > 0 {
            self.shared
                .pending_bytes
                .fetch_sub(dropped, Ordering::Relaxed);
            self.shared
                .dropped_bytes
                .fetch_add(dropped, Ordering::Relaxed);
        }
    }

    fn committed(&mut self, c: Committed) {
        if c.records {
            self.records.clear();
        }
        let mut cleared = 0;
        for SessionCommit {
            seq,
            end,
            history_start,
            tail,
            written,
        } in c.sessions
        {
            if let Some(state) = self.sessions.get_mut(&seq) {
                cleared += state.pending.consume(written);
                state.stored_end = end;
                state.history_start = history_start;
                state.tail = tail;
                state
                    .progress
                    .history_start
                    .store(history_start, Ordering::Relaxed);
                state.progress.stored_end.send_replace(end);
            }
        }
        self.set_total_stored(c.total_stored);
        self.shared
            .pending_bytes
            .fetch_sub(cleared, Ordering::Relaxed);
        self.shared
            .committed_bytes
            .fetch_add(c.bytes, Ordering::Relaxed);
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything pending is committed: the store is healthy (again).
    fn healthy(&mut self) {
        if let Some(reserve) = self.reserve.as_mut() {
            reserve.take_again();
        }
        if !self.shared.ok.swap(true, Ordering::Relaxed) {
            log::info!("store: writing to the database works again");
            if let Ok(mut e) = self.shared.last_error.lock() {
                *e = None;
            }
        }
    }

    fn set_total_stored(&mut self, n: u64) {
        self.total_stored = n;
        self.shared.stored_bytes.store(n, Ordering::Relaxed);
    }

    /// Logs the first failure of a run of failures and marks the store degraded.
    pub(super) fn failed(&self, error: &str) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        if self.shared.ok.swap(false, Ordering::Relaxed) {
            log::error!(
                "store: cannot write to {}: {error}; terminals keep working from memory and \
                 writing resumes when it can",
                self.config.path.display()
            );
        }
        if let Ok(mut e) = self.shared.last_error.lock() {
            *e = Some(error.to_owned());
        }
    }
}
