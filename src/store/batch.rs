//! What one transaction of the writer holds, and how the writer gets out of a failing state.
//!
//! Normally a commit holds everything pending ([`Scope::All`]): record changes and all output,
//! trimmed to the history and global caps. While the store is degraded (a full disk), that
//! batch may never fit again, so [`Writer::recover`] goes in small steps instead: the session
//! records first (a few bytes: sessions created meanwhile reach the file, ended ones are
//! recorded as such; the lock file's reserve is given back if even they do not fit), then each
//! session's output in pieces of at most one chunk, after giving up the oldest pending bytes
//! that the free space cannot take (a `gap` for readers). So the store is healthy again as soon
//! as one small commit fits, keeping the newest output.

use rusqlite::Transaction;

use super::sql::{self, CHUNK_MAX, Tail, insert_output, oldest_start, trim, upsert};
use super::writer::Writer;

/// Least room on the file system for output to be tried while degraded: a few pieces.
const MIN_ROOM: u64 = 4 * CHUNK_MAX as u64;

/// Bytes the file system holding `db` has free for this process.
#[allow(clippy::useless_conversion)] // u64 on the targets shipped, narrower on 32-bit ones
fn available(db: &std::path::Path) -> Option<u64> {
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size())))
}

/// What a transaction writes.
#[derive(Clone, Copy)]
pub(super) enum Scope {
    /// Every record change and all pending output.
    All,
    /// Only the record changes (output as far as it is committed already).
    Records,
    /// Only the oldest pending output of session `seq`, at most one chunk of it.
    Piece(i64),
}

/// One session's committed state after a commit.
pub(super) struct SessionCommit {
    pub(super) seq: i64,
    pub(super) end: u64,
    pub(super) history_start: u64,
    pub(super) tail: Option<Tail>,
    /// Pending bytes (from the oldest) this commit wrote.
    pub(super) written: u64,
}

/// What a commit changed, applied to the in-memory state only once the commit succeeded.
pub(super) struct Committed {
    pub(super) sessions: Vec<SessionCommit>,
    pub(super) total_stored: u64,
    pub(super) bytes: u64,
    /// The record changes were written.
    pub(super) records: bool,
}

impl Writer {
    pub(super) fn write(&self, tx: &Transaction<'_>, scope: Scope) -> rusqlite::Result<Committed> {
        let mut committed = Committed {
            sessions: Vec::new(),
            total_stored: self.total_stored,
            bytes: 0,
            records: matches!(scope, Scope::All | Scope::Records),
        };
        if committed.records {
            for info in self.records.values() {
                // What the file will hold for it once this commits, never more.
                let end = self.sessions.get(&info.seq).map_or(info.output_bytes, |s| {
                    let pending = s.pending.segments.back();
                    match scope {
                        Scope::All => pending.map_or(s.stored_end, |(at, b)| at + b.len() as u64),
                        _ => s.stored_end,
                    }
                });
                upsert(tx, info, end)?;
            }
        }
        for (&seq, state) in &self.sessions {
            let max = match scope {
                Scope::All => usize::MAX,
                Scope::Piece(only) if only == seq => CHUNK_MAX,
                _ => continue,
            };
            if state.pending.bytes == 0 {
                continue;
            }
            let mut end = state.stored_end;
            let mut tail = state.tail;
            let mut written = 0;
            // Nothing stored yet (or all of it trimmed): the oldest stored byte is the first
            // one written now, which is not 0 when older output had to be given up.
            let mut history_start = state.history_start;
            if state.stored_end == state.history_start
                && let Some((start, _)) = state.pending.segments.front()
            {
                history_start = *start;
            }
            for (start, buf) in &state.pending.segments {
                let part = &buf[..buf.len().min(max - written)];
                let w = insert_output(tx, seq, *start, part, tail, self.config.compress)?;
                end = w.end;
                tail = w.tail;
                committed.total_stored += w.stored;
                written += part.len();
                if written == max {
                    break;
                }
            }
            committed.bytes += written as u64;
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
                written: written as u64,
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
                        written: 0,
                    });
                }
            }
        }
        Ok(())
    }

    /// Commits in small steps while the store is degraded; `true` once nothing is pending (the
    /// store is healthy again). Records first; then, if the file system has room for a few
    /// pieces, each session's pending output is cut to its share of a third of that room
    /// (oldest bytes given up: the WAL and the checkpoint each need a copy) and committed
    /// piece by piece. Without room, everything pending is kept (up to its bound) for later.
    pub(super) fn recover(&mut self, conn: &mut rusqlite::Connection) -> bool {
        if !self.commit_records(conn) {
            return false;
        }
        let pending: u64 = self.sessions.values().map(|s| s.pending.bytes).sum();
        if pending == 0 {
            return true;
        }
        let room = available(&self.config.path).unwrap_or(0);
        if room < MIN_ROOM {
            return false;
        }
        let budget = room / 3;
        let mut seqs: Vec<i64> = (self.sessions.iter())
            .filter(|(_, s)| s.pending.bytes > 0)
            .map(|(&seq, _)| seq)
            .collect();
        seqs.sort_unstable();
        for &seq in &seqs {
            if pending > budget {
                let share = self.sessions.get(&seq).map_or(0, |s| {
                    (u128::from(s.pending.bytes) * u128::from(budget) / u128::from(pending)) as u64
                });
                self.give_up_oldest(seq, share);
            }
        }
        for seq in seqs {
            while self.sessions.get(&seq).is_some_and(|s| s.pending.bytes > 0) {
                if let Err(e) = self.commit(conn, Scope::Piece(seq)) {
                    // Less room than it seemed: what is left of this session is given up.
                    self.failed(&e.to_string());
                    self.give_up_oldest(seq, 0);
                }
            }
        }
        true
    }

    /// Commits the record changes alone (if any); with the disk full, gives the lock file's
    /// reserve back to make room for them. `false` if they could not be saved.
    pub(super) fn commit_records(&mut self, conn: &mut rusqlite::Connection) -> bool {
        if self.records.is_empty() {
            return true;
        }
        let mut result = self.commit(conn, Scope::Records);
        if result.is_err() && self.reserve.as_mut().is_some_and(|r| r.give_up()) {
            result = self.commit(conn, Scope::Records);
        }
        match result {
            Ok(()) => true,
            Err(e) => {
                self.failed(&e.to_string());
                false
            }
        }
    }

    /// Gives up the oldest pending output of session `seq` beyond its newest `keep` bytes:
    /// readers meet a `gap` there.
    fn give_up_oldest(&mut self, seq: i64, keep: u64) {
        let Some(state) = self.sessions.get_mut(&seq) else {
            return;
        };
        let excess = state.pending.bytes.saturating_sub(keep);
        let dropped = state.pending.consume(excess);
        self.note_dropped(dropped);
    }
}
