//! One session: its record, its PTY, its output (ring and store) and the readers waiting on it.
//!
//! Output flows `PTY → push_output → ring (+ offered to the store) → watchers`. Any number of
//! readers follow the output at their own offsets with [`Session::read_at`], which serves from
//! the ring, then from the store, and says `Gap` only for bytes that are truly gone.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::engine::output::{InMemory, Output};
use crate::engine::pty::Pty;
use crate::model::clock::{Timestamp, now_ms};
use crate::model::error::{Error, Result};
use crate::model::id::SessionId;
use crate::model::record::{SessionInfo, Status};
use crate::store::{Progress, Store};

/// The output position, liveness and terminal size that readers wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    /// Output offset one past the newest byte.
    pub end: u64,
    pub running: bool,
    pub cols: u16,
    pub rows: u16,
}

/// What [`Session::read_at`] found at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes starting exactly at the offset asked for.
    Data(Vec<u8>),
    /// Bytes `[from, to)` are gone (history limit, or never stored); go on at `to`.
    Gap { from: u64, to: u64 },
    /// The reader is at the end of a running session: wait for the tail to move.
    Wait,
    /// The reader is at the end of a session that has ended.
    End,
}

/// A session of the engine. Shared as `Arc<Session>` by the manager, its supervising task and
/// every reader.
pub struct Session {
    pub id: SessionId,
    pub seq: i64,
    info: Mutex<SessionInfo>,
    output: Mutex<Output>,
    tail: watch::Sender<Tail>,
    progress: Arc<Progress>,
    pty: Mutex<Option<Arc<Pty>>>,
    input: tokio::sync::Mutex<()>,
    /// Clients attached now, each counted by a [`ClientGuard`].
    clients: AtomicU32,
    /// A stop was asked for (the session then ends as `stopped`).
    stop_requested: AtomicBool,
    /// The process has been reaped: its pid no longer names our process group.
    reaped: AtomicBool,
    /// Milliseconds ([`now_ms`]) of the last output or client detach (for the idle limit).
    last_activity: AtomicU64,
    /// Wall-clock second of the last output (0: none since the service started).
    last_output: AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-changed in a way that
    // matters more than stopping the service would, so a poisoned lock is simply taken over.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    /// A session whose process was just started on `pty`.
    pub(super) fn started(info: SessionInfo, pty: Pty, progress: Arc<Progress>) -> Arc<Session> {
        Self::build(info, Some(Arc::new(pty)), progress)
    }

    /// A session running before an upgrade's `execve`, taken over on its inherited `pty`: its
    /// output goes on at `info.output_bytes` (older bytes are read from the store).
    pub(super) fn adopted(
        info: SessionInfo,
        pty: Pty,
        progress: Arc<Progress>,
        last_output: Option<Timestamp>,
    ) -> Arc<Session> {
        let session = Self::build(info, Some(Arc::new(pty)), progress);
        if let Some(t) = last_output {
            session.last_output.store(t.0, Ordering::Relaxed);
        }
        session
    }

    /// A session known from the store, not running in this process.
    pub(super) fn loaded(info: SessionInfo, progress: Arc<Progress>) -> Arc<Session> {
        Self::build(info, None, progress)
    }

    fn build(info: SessionInfo, pty: Option<Arc<Pty>>, progress: Arc<Progress>) -> Arc<Session> {
        let end = info.output_bytes;
        let running = info.status.is_running();
        let output = Output::new(pty.is_some(), end);
        let tail = Tail {
            end,
            running,
            cols: info.cols,
            rows: info.rows,
        };
        Arc::new(Session {
            id: info.id.clone(),
            seq: info.seq,
            info: Mutex::new(info),
            output: Mutex::new(output),
            tail: watch::Sender::new(tail),
            progress,
            pty: Mutex::new(pty),
            input: tokio::sync::Mutex::new(()),
            clients: AtomicU32::new(0),
            stop_requested: AtomicBool::new(false),
            reaped: AtomicBool::new(!running),
            last_activity: AtomicU64::new(now_ms()),
            last_output: AtomicI64::new(0),
        })
    }

    /// The session object as clients see it now.
    pub fn info(&self) -> SessionInfo {
        let mut info = lock(&self.info).clone();
        let tail = *self.tail.borrow();
        info.output_bytes = tail.end;
        info.history_start = self.history_start();
        info.clients = self.clients.load(Ordering::Relaxed);
        let last = self.last_output.load(Ordering::Relaxed);
        info.last_output_at = (last > 0).then_some(Timestamp(last));
        info
    }

    pub fn status(&self) -> Status {
        lock(&self.info).status
    }

    pub fn pid(&self) -> Option<i32> {
        lock(&self.info).pid
    }

    /// Changes the record under the lock; returns the new session object.
    pub(super) fn update(&self, f: impl FnOnce(&mut SessionInfo)) -> SessionInfo {
        f(&mut lock(&self.info));
        self.info()
    }

    /// The smallest offset still retrievable, from the ring or the store.
    fn history_start(&self) -> u64 {
        let (stored_from, stored_end) = (self.progress.history_start(), self.progress.stored_end());
        match lock(&self.output).oldest() {
            Some(oldest) if stored_from < stored_end => stored_from.min(oldest),
            Some(oldest) => oldest,
            None => stored_from,
        }
    }

    /// The oldest offset memory (the ring) still holds, while the session has a ring.
    pub fn memory_start(&self) -> Option<u64> {
        lock(&self.output).oldest()
    }

    /// Follows the output's end and the session's liveness.
    pub fn watch(&self) -> watch::Receiver<Tail> {
        self.tail.subscribe()
    }

    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    pub(super) fn pty(&self) -> Option<Arc<Pty>> {
        lock(&self.pty).clone()
    }

    /// The terminal's foreground process group (its leader's pid), while the session runs.
    pub fn foreground_group(&self) -> Option<i32> {
        self.pty()?.foreground_group().map(|p| p.as_raw())
    }

    /// Appends PTY output: into the ring, offered to the store, then readers are woken.
    /// Returns `false` when the store's queue had no room for all of it: the caller then waits
    /// for room ([`Session::wait_for_store`]) before reading more.
    pub(super) fn push_output(&self, data: &[u8], store: &Store) -> bool {
        store.note_output(data.len());
        // Output someone is shown is committed soon after it goes quiet (`--commit-idle`).
        self.progress
            .set_watched(self.clients.load(Ordering::Relaxed) > 0);
        let Some((end, queued)) = lock(&self.output).push(self.seq, data, store) else {
            return true;
        };
        self.last_activity.store(now_ms(), Ordering::Relaxed);
        self.last_output
            .store(Timestamp::now().0, Ordering::Relaxed);
        self.tail.send_modify(|t| t.end = end);
        queued
    }

    /// Waits until the store's queue takes what the last reads left over, for at most `limit`.
    /// The caller does not read the PTY meanwhile, so the program is slowed to what the disk
    /// can take (every byte stays in history) instead of bytes being dropped; a store stalled
    /// for longer than `limit` costs a hole in stored history, never a frozen terminal.
    pub(super) async fn wait_for_store(&self, store: &Store, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let room = store.room();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut out = lock(&self.output);
                out.offer_backlog(self.seq, store);
                if out.caught_up() {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return false;
            }
        }
    }

    /// Hands every byte not yet queued to the store, waiting for room if need be (at exit).
    pub(super) async fn drain_to_store(&self, store: &Store) {
        let pending = lock(&self.output).take_backlog(store);
        if let Some((from, bytes)) = pending.filter(|p| !p.1.is_empty())
            && let Err(e) = store.output(self.seq, from, bytes).await
        {
            log::warn!("session {}: final output not stored: {e}", self.id);
        }
    }

    /// Drops the ring once the store holds all output (for ended sessions: memory stays small
    /// however many ended sessions there are).
    pub(super) fn release_ring_if_stored(&self) {
        let mut out = lock(&self.output);
        out.release_if_stored(self.progress.stored_end());
    }

    /// Marks the session ended with its final record.
    pub(super) fn finish(&self, f: impl FnOnce(&mut SessionInfo)) -> SessionInfo {
        lock(&self.pty).take();
        let info = self.update(f);
        self.tail.send_modify(|t| t.running = false);
        info
    }

    /// Reads up to `max` bytes at `offset`: from memory, else from the store.
    pub async fn read_at(&self, store: &Store, offset: u64, max: usize) -> Result<Chunk> {
        let tail = *self.tail.borrow();
        if offset > tail.end {
            return Err(Error::bad_request(format!(
                "offset {offset} is beyond the session's output ({} bytes)",
                tail.end
            )));
        }
        // Never past `tail.end` (the ring is written before the tail moves): no client may hold
        // bytes the session does not say it has yet.
        let readable = usize::try_from(tail.end - offset).unwrap_or(usize::MAX);
        let in_memory = match readable {
            0 => InMemory::Nothing,
            n => lock(&self.output).read(offset, max.min(n)),
        };
        let oldest_in_memory = match in_memory {
            InMemory::Bytes(bytes) => return Ok(Chunk::Data(bytes)),
            InMemory::Gone { oldest } => oldest,
            InMemory::Nothing => tail.end,
        };
        if offset == tail.end {
            return Ok(if tail.running {
                Chunk::Wait
            } else {
                Chunk::End
            });
        }
        // Older than memory: the store has it, or will once its queue is committed.
        for attempt in 0..2 {
            let stored = store.read_output(self.seq, offset, max).await?;
            if !stored.data.is_empty() {
                return Ok(if stored.start > offset {
                    // The hole ends where the store or the ring has bytes again, whichever
                    // comes first (the store may have been trimmed past what memory holds).
                    Chunk::Gap {
                        from: offset,
                        to: stored.start.min(oldest_in_memory),
                    }
                } else {
                    Chunk::Data(stored.data)
                });
            }
            if attempt == 0 && self.progress.stored_end() < oldest_in_memory {
                store.flush().await?;
            }
        }
        Ok(Chunk::Gap {
            from: offset,
            to: oldest_in_memory,
        })
    }

    /// Writes input to the program. `409 conflict` once the session has ended.
    pub async fn write_input(&self, data: &[u8]) -> Result<()> {
        let pty = self
            .pty()
            .ok_or_else(|| Error::conflict("the session is not running"))?;
        let _order = self.input.lock().await;
        pty.write_all(data)
            .await
            .map_err(|e| Error::conflict(format!("the terminal no longer takes input: {e}")))
    }

    /// Sets the terminal size; the program gets SIGWINCH.
    pub fn resize(&self, cols: u16, rows: u16) -> Result<SessionInfo> {
        let pty = self
            .pty()
            .ok_or_else(|| Error::conflict("the session is not running"))?;
        pty.resize(cols, rows)
            .map_err(|e| Error::internal(format!("resizing the terminal: {e}")))?;
        let info = self.update(|i| {
            i.cols = cols;
            i.rows = rows;
        });
        self.tail.send_modify(|t| (t.cols, t.rows) = (cols, rows));
        Ok(info)
    }

    /// Makes a full-screen program repaint (for a client that just replayed history): the
    /// terminal's size is changed by one row and back, so the program gets SIGWINCH and redraws
    /// at the size it had. Nobody else sees a size change.
    pub fn redraw(&self) -> Result<()> {
        let pty = self
            .pty()
            .ok_or_else(|| Error::conflict("the session is not running"))?;
        let (cols, rows) = {
            let t = self.tail.borrow();
            (t.cols, t.rows)
        };
        let nudge = if rows < 1000 { rows + 1 } else { rows - 1 };
        pty.resize(cols, nudge)
            .and_then(|()| pty.resize(cols, rows))
            .map_err(|e| Error::internal(format!("redrawing: {e}")))
    }

    /// Milliseconds (on [`now_ms`]'s clock) of the last output or detach.
    pub(super) fn last_activity_ms(&self) -> u64 {
        self.last_activity.load(Ordering::Relaxed)
    }

    /// Clients attached now.
    pub(super) fn clients(&self) -> u32 {
        self.clients.load(Ordering::Relaxed)
    }

    /// Counts one more attached client, if fewer than `max` are (see `ClientGuard::count`).
    pub(super) fn client_came(&self, max: u32) -> bool {
        self.clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// A client went away: one fewer, and the idle clock starts again.
    pub(super) fn client_left(&self) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
        self.last_activity.store(now_ms(), Ordering::Relaxed);
    }

    /// Notes that a stop was asked for: however the process then ends, it is `stopped`.
    pub(super) fn note_stop_requested(&self) {
        self.stop_requested.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub(super) fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::Relaxed)
    }

    /// Notes that the process was reaped: from now on its pid may name someone else.
    pub(super) fn mark_reaped(&self) {
        self.reaped.store(true, Ordering::Release);
    }

    /// Whether the session's leader has not been reaped yet (so its pid still names our
    /// process group).
    pub(super) fn leader_alive(&self) -> bool {
        !self.reaped.load(Ordering::Acquire)
    }
}
