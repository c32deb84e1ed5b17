//! One session: its record, its PTY, its output (ring and store) and the readers waiting on it.
//!
//! Output flows `PTY → push_output → ring (+ offered to the store) → watchers`. Any number of
//! readers follow the output at their own offsets with [`Session::read_at`], which serves from
//! the ring, then from the store, and says `Gap` only for bytes that are truly gone.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::sync::watch;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::pty::Pty;
use crate::record::{SessionInfo, Status};
use crate::ring::{Ring, Slice};
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

struct Output {
    /// The newest output, while the session runs (and until the store holds all of it).
    ring: Option<Box<Ring>>,
    /// Offset up to which output was handed to the store's queue.
    offered: u64,
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
    clients: AtomicU32,
    pub(crate) stop_requested: AtomicBool,
    /// The process has been reaped: its pid no longer names our process group.
    pub(crate) reaped: AtomicBool,
    /// Milliseconds since [`epoch`] of the last output or client detach (for the idle limit).
    last_activity: AtomicU64,
    /// Wall-clock second of the last output (0: none since the service started).
    last_output: AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-changed in a way that
    // matters more than stopping the service would, so a poisoned lock is simply taken over.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A monotonic clock origin for activity times.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(crate) fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl Session {
    /// A session whose process was just started on `pty`.
    pub(crate) fn started(info: SessionInfo, pty: Pty, progress: Arc<Progress>) -> Arc<Session> {
        Self::build(info, Some(Arc::new(pty)), Some(Ring::boxed(0)), progress)
    }

    /// A session running before an upgrade's `execve`, taken over on its inherited `pty`: its
    /// output goes on at `info.output_bytes` (older bytes are read from the store).
    pub(crate) fn adopted(
        info: SessionInfo,
        pty: Pty,
        progress: Arc<Progress>,
        last_output: Option<Timestamp>,
    ) -> Arc<Session> {
        let end = info.output_bytes;
        let session = Self::build(info, Some(Arc::new(pty)), Some(Ring::boxed(end)), progress);
        if let Some(t) = last_output {
            session.last_output.store(t.0, Ordering::Relaxed);
        }
        session
    }

    /// A session known from the store, not running in this process.
    pub(crate) fn loaded(info: SessionInfo, progress: Arc<Progress>) -> Arc<Session> {
        Self::build(info, None, None, progress)
    }

    fn build(
        info: SessionInfo,
        pty: Option<Arc<Pty>>,
        ring: Option<Box<Ring>>,
        progress: Arc<Progress>,
    ) -> Arc<Session> {
        let end = info.output_bytes;
        let running = info.status.is_running();
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
            output: Mutex::new(Output { ring, offered: end }),
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
    pub(crate) fn update(&self, f: impl FnOnce(&mut SessionInfo)) -> SessionInfo {
        f(&mut lock(&self.info));
        self.info()
    }

    /// The smallest offset still retrievable, from the ring or the store.
    fn history_start(&self) -> u64 {
        let (stored_from, stored_end) = (self.progress.history_start(), self.progress.stored_end());
        match lock(&self.output).ring.as_ref() {
            Some(ring) if stored_from < stored_end => stored_from.min(ring.oldest()),
            Some(ring) => ring.oldest(),
            None => stored_from,
        }
    }

    /// The oldest offset memory (the ring) still holds, while the session has a ring.
    pub fn memory_start(&self) -> Option<u64> {
        lock(&self.output).ring.as_ref().map(|r| r.oldest())
    }

    /// Follows the output's end and the session's liveness.
    pub fn watch(&self) -> watch::Receiver<Tail> {
        self.tail.subscribe()
    }

    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    pub(crate) fn pty(&self) -> Option<Arc<Pty>> {
        lock(&self.pty).clone()
    }

    /// Appends PTY output: into the ring, offered to the store, then readers are woken.
    /// Returns `false` when the store's queue had no room for all of it: the caller then waits
    /// for room ([`Session::wait_for_store`]) before reading more.
    pub(crate) fn push_output(&self, data: &[u8], store: &Store) -> bool {
        store.note_output(data.len());
        let (end, queued) = {
            let mut out = lock(&self.output);
            let Some(ring) = out.ring.as_mut() else {
                return true;
            };
            let start = ring.end();
            ring.write(data);
            let end = ring.end();
            // Output someone is shown is committed soon after it goes quiet (`--commit-idle`).
            self.progress
                .set_watched(self.clients.load(Ordering::Relaxed) > 0);
            if out.offered == start {
                // The usual case: everything before was queued; queue this read as it is.
                if store.offer_output(self.seq, start, data.to_vec()) {
                    out.offered = end;
                }
            } else {
                self.offer_backlog(&mut out, store);
            }
            (end, out.offered == end)
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
    pub(crate) async fn wait_for_store(&self, store: &Store, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let room = store.room();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut out = lock(&self.output);
                self.offer_backlog(&mut out, store);
                let caught_up = out.ring.as_ref().is_none_or(|r| out.offered == r.end());
                if caught_up {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return false;
            }
        }
    }

    /// The bytes not yet handed to the store, from the ring, as `(start, bytes, end)`. What the
    /// ring no longer holds is counted as dropped: the store will have a hole there.
    fn backlog(&self, out: &Output, store: &Store) -> Option<(u64, Vec<u8>, u64)> {
        let ring = out.ring.as_ref()?;
        let from = out.offered.max(ring.oldest());
        if from > out.offered {
            store.note_dropped(from - out.offered);
        }
        match ring.read_from(from) {
            Slice::Bytes(a, b) => Some((from, [a, b].concat(), ring.end())),
            _ => None,
        }
    }

    /// Offers the store what an earlier full queue made us hold back.
    fn offer_backlog(&self, out: &mut Output, store: &Store) {
        let Some((from, bytes, end)) = self.backlog(out, store) else {
            return;
        };
        if bytes.is_empty() || store.offer_output(self.seq, from, bytes) {
            out.offered = end;
        } else {
            out.offered = from; // the part before `from` is gone; do not count it twice
        }
    }

    /// Hands every byte not yet queued to the store, waiting for room if need be (at exit).
    pub(crate) async fn drain_to_store(&self, store: &Store) {
        let pending = {
            let mut out = lock(&self.output);
            let backlog = self.backlog(&out, store);
            if let Some((_, _, end)) = backlog {
                out.offered = end;
            }
            backlog
        };
        if let Some((from, bytes, _)) = pending.filter(|p| !p.1.is_empty())
            && let Err(e) = store.output(self.seq, from, bytes).await
        {
            log::warn!("session {}: final output not stored: {e}", self.id);
        }
    }

    /// Drops the ring once the store holds all output (for ended sessions: memory stays small
    /// however many ended sessions there are).
    pub(crate) fn release_ring_if_stored(&self) {
        let mut out = lock(&self.output);
        let end = out.ring.as_ref().map(|r| r.end());
        if end.is_some_and(|end| self.progress.stored_end() >= end) {
            out.ring = None;
        }
    }

    /// Marks the session ended with its final record.
    pub(crate) fn finish(&self, f: impl FnOnce(&mut SessionInfo)) -> SessionInfo {
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
        let mut oldest_in_memory = tail.end;
        {
            let out = lock(&self.output);
            if let Some(ring) = out.ring.as_ref() {
                match ring.read_from(offset) {
                    Slice::Bytes(a, b) if !a.is_empty() || !b.is_empty() => {
                        let mut bytes = Vec::with_capacity(max.min(a.len() + b.len()));
                        bytes.extend_from_slice(&a[..a.len().min(max)]);
                        let rest = max - bytes.len();
                        bytes.extend_from_slice(&b[..b.len().min(rest)]);
                        return Ok(Chunk::Data(bytes));
                    }
                    Slice::Gone { oldest } => oldest_in_memory = oldest,
                    _ => {}
                }
            }
        }
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

    pub(crate) fn clients(&self) -> &AtomicU32 {
        &self.clients
    }

    pub(crate) fn touch(&self) {
        self.last_activity.store(now_ms(), Ordering::Relaxed);
    }

    /// Milliseconds (on [`now_ms`]'s clock) of the last output or detach.
    pub(crate) fn last_activity_ms(&self) -> u64 {
        self.last_activity.load(Ordering::Relaxed)
    }
}
