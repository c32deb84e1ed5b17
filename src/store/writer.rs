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

use rusqlite::{Connection, Transaction};

use super::sql::{self, Tail, delete_session, insert_output, oldest_start, trim, upsert};
use super::{Loaded, Msg, Progress, Shared, StoreConfig};
use crate::record::SessionInfo;

/// Output received for one session and not committed yet, as contiguous segments.
#[derive(Default)]
struct Pending {
    segments: VecDeque<(u64, Vec<u8>)>,
    bytes: u64,
}

struct SessionState {
    progress: Arc<Progress>,
    pending: Pending,
    /// Committed state: end of stored output, oldest stored offset, newest chunk.
    stored_end: u64,
    history_start: u64,
    tail: Option<Tail>,
}

pub(super) struct Writer {
    config: StoreConfig,
    shared: Arc<Shared>,
    sessions: HashMap<i64, SessionState>,
    /// Record changes waiting for the next commit, by seq (the latest wins).
    records: HashMap<i64, SessionInfo>,
    /// Sum of the lengths of all stored chunks.
    total_stored: u64,
    /// When the oldest uncommitted change arrived.
    dirty_since: Option<Instant>,
    /// When to commit if no more watched output comes (`--commit-idle`).
    quiet_due: Option<Instant>,
    /// Bound on a session's pending bytes while commits fail.
    pending_cap: u64,
}

/// One session's committed state after a commit.
struct SessionCommit {
    seq: i64,
    end: u64,
    history_start: u64,
    tail: Option<Tail>,
}

/// What a commit changed, applied to the in-memory state only once the commit succeeded.
struct Committed {
    sessions: Vec<SessionCommit>,
    total_stored: u64,
    bytes: u64,
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
        let mut dropped = 0;
        while pending.bytes > cap {
            let Some((s, buf)) = pending.segments.front_mut() else {
                break;
            };
            let cut = ((pending.bytes - cap) as usize).min(buf.len());
            buf.drain(..cut);
            *s += cut as u64;
            pending.bytes -= cut as u64;
            dropped += cut as u64;
            if buf.is_empty() {
                pending.segments.pop_front();
            }
        }
        if dropped > 0 {
            self.shared
                .pending_bytes
                .fetch_sub(dropped, Ordering::Relaxed);
            self.shared
                .dropped_bytes
                .fetch_add(dropped, Ordering::Relaxed);
        }
        let due = pending.bytes >= self.config.flush_bytes;
        // Output a client was shown: committed once it has been quiet a moment, so a crash
        // loses little of what clients hold; while it flows it is batched as any other.
        if let (true, Some(idle)) = (state.progress.watched(), self.config.commit_idle) {
            self.quiet_due = Some(Instant::now() + idle);
        }
        self.mark_dirty();
        due && self.shared.ok.load(Ordering::Relaxed)
    }

    /// Commits all pending record changes and output in one transaction.
    fn flush(&mut self, conn: &mut Connection) {
        if self.dirty_since.is_none() {
            return;
        }
        let result = conn
            .transaction()
            .and_then(|tx| self.write(&tx).and_then(|c| tx.commit().map(|()| c)));
        match result {
            Ok(committed) => self.committed(committed),
            Err(e) => {
                self.failed(&e.to_string());
                // Retry after another interval, not in a tight loop.
                self.dirty_since = Some(Instant::now());
                self.quiet_due = None;
            }
        }
        self.shared
            .disk_write_bytes
            .store(thread_write_bytes(), Ordering::Relaxed);
    }

    fn write(&self, tx: &Transaction<'_>) -> rusqlite::Result<Committed> {
        for info in self.records.values() {
            // Everything pending is written in this same transaction.
            let end = self.sessions.get(&info.seq).map_or(info.output_bytes, |s| {
                let pending = s.pending.segments.back();
                pending.map_or(s.stored_end, |(start, b)| start + b.len() as u64)
            });
            upsert(tx, info, end)?;
        }
        let mut committed = Committed {
            sessions: Vec::new(),
            total_stored: self.total_stored,
            bytes: 0,
        };
        for (&seq, state) in &self.sessions {
            if state.pending.bytes == 0 {
                continue;
            }
            let mut end = state.stored_end;
            let mut tail = state.tail;
            for (start, buf) in &state.pending.segments {
                let w = insert_output(tx, seq, *start, buf, tail, self.config.compress)?;
                end = w.end;
                tail = w.tail;
                committed.total_stored += w.stored;
                committed.bytes += buf.len() as u64;
            }
            let mut history_start = state.history_start;
            if end.saturating_sub(history_start) > self.config.history_bytes {
                let cut = end - self.config.history_bytes;
                committed.total_stored -= trim(tx, seq, cut)?.min(committed.total_stored);
                history_start = oldest_start(tx, seq)?.unwrap_or(end);
            }
            committed.sessions.push(SessionCommit {
                seq,
                end,
                history_start,
                tail,
            });
        }
        self.enforce_global_cap(tx, &mut committed)?;
        Ok(committed)
    }

    /// Deletes the chunks written longest ago, of any session, until all stored output fits
    /// `max_bytes`: the file keeps the newest output.
    fn enforce_global_cap(&self, tx: &Transaction<'_>, c: &mut Committed) -> rusqlite::Result<()> {
        let mut touched = Vec::new();
        while c.total_stored > self.config.max_bytes {
            let Some((seq, len)) = sql::delete_oldest_chunk(tx)? else {
                break;
            };
            c.total_stored = c.total_stored.saturating_sub(len);
            if !touched.contains(&seq) {
                touched.push(seq);
            }
        }
        for seq in touched {
            let start = oldest_start(tx, seq)?;
            match c.sessions.iter_mut().find(|s| s.seq == seq) {
                // The newest chunk may be gone: do not try to extend it.
                Some(s) => {
                    s.history_start = start.unwrap_or(s.end);
                    s.tail = None;
                }
                None => {
                    let Some(state) = self.sessions.get(&seq) else {
                        continue;
                    };
                    let end = state.stored_end;
                    c.sessions.push(SessionCommit {
                        seq,
                        end,
                        history_start: start.unwrap_or(end),
                        tail: None,
                    });
                }
            }
        }
        Ok(())
    }

    fn committed(&mut self, c: Committed) {
        self.records.clear();
        let mut cleared = 0;
        for SessionCommit {
            seq,
            end,
            history_start,
            tail,
        } in c.sessions
        {
            if let Some(state) = self.sessions.get_mut(&seq) {
                cleared += std::mem::take(&mut state.pending).bytes;
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
        self.dirty_since = None;
        self.quiet_due = None;
        self.shared
            .pending_bytes
            .fetch_sub(cleared, Ordering::Relaxed);
        self.shared
            .committed_bytes
            .fetch_add(c.bytes, Ordering::Relaxed);
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
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
    fn failed(&self, error: &str) {
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

/// Bytes this thread has passed to `write(2)` and friends, from `/proc/thread-self/io`.
fn thread_write_bytes() -> u64 {
    std::fs::read_to_string("/proc/thread-self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}
