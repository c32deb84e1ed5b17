//! A running session's newest output and its way to the store: the ring that holds it, and how
//! far the store's queue has taken it. Nothing here waits or locks: the session holds this under
//! its mutex and does the waiting (`Session::wait_for_store`, `Session::drain_to_store`).

use crate::engine::ring::{Ring, Slice};
use crate::store::Store;

/// The ring (while the session runs, and until the store holds all of it) and the offset up to
/// which its bytes were handed to the store's queue.
pub(super) struct Output {
    ring: Option<Box<Ring>>,
    offered: u64,
}

/// What memory holds at an offset.
pub(super) enum InMemory {
    /// Bytes starting exactly there.
    Bytes(Vec<u8>),
    /// The ring no longer holds it; it starts at `oldest`.
    Gone { oldest: u64 },
    /// Nothing: no ring, or the offset is its end.
    Nothing,
}

impl Output {
    /// Output continuing at `end`, in a ring of its own when `ring` (a running session).
    pub(super) fn new(ring: bool, end: u64) -> Output {
        Output {
            ring: ring.then(|| Ring::boxed(end)),
            offered: end,
        }
    }

    /// Appends `data` to the ring and offers it to the store; returns the new end and whether
    /// the store's queue has taken everything so far (`None`: no ring, the session has ended).
    pub(super) fn push(&mut self, seq: i64, data: &[u8], store: &Store) -> Option<(u64, bool)> {
        let ring = self.ring.as_mut()?;
        let start = ring.end();
        ring.write(data);
        let end = ring.end();
        if self.offered == start {
            // The usual case: everything before was queued; queue this read as it is.
            if store.offer_output(seq, start, data.to_vec()) {
                self.offered = end;
            }
        } else {
            self.offer_backlog(seq, store);
        }
        Some((end, self.offered == end))
    }

    /// Whether the store's queue has taken every byte of the ring.
    pub(super) fn caught_up(&self) -> bool {
        self.ring.as_ref().is_none_or(|r| self.offered == r.end())
    }

    /// The oldest offset the ring holds, if there is a ring.
    pub(super) fn oldest(&self) -> Option<u64> {
        self.ring.as_ref().map(|r| r.oldest())
    }

    /// The bytes not yet handed to the store, from the ring, as `(start, bytes, end)`. What the
    /// ring no longer holds is counted as dropped: the store will have a hole there.
    fn backlog(&self, store: &Store) -> Option<(u64, Vec<u8>, u64)> {
        let ring = self.ring.as_ref()?;
        let from = self.offered.max(ring.oldest());
        if from > self.offered {
            store.note_dropped(from - self.offered);
        }
        match ring.read_from(from) {
            Slice::Bytes(a, b) => Some((from, [a, b].concat(), ring.end())),
            _ => None,
        }
    }

    /// Offers the store what an earlier full queue made us hold back.
    pub(super) fn offer_backlog(&mut self, seq: i64, store: &Store) {
        let Some((from, bytes, end)) = self.backlog(store) else {
            return;
        };
        if bytes.is_empty() || store.offer_output(seq, from, bytes) {
            self.offered = end;
        } else {
            self.offered = from; // the part before `from` is gone; do not count it twice
        }
    }

    /// Takes every byte not yet queued, as `(start, bytes)`, counting it as handed over: the
    /// caller hands it to the store, waiting for room (at exit, or to hold still).
    pub(super) fn take_backlog(&mut self, store: &Store) -> Option<(u64, Vec<u8>)> {
        let (from, bytes, end) = self.backlog(store)?;
        self.offered = end;
        Some((from, bytes))
    }

    /// Drops the ring once the store holds all of it (`stored_end`): an ended session's memory
    /// stays small however many ended sessions there are.
    pub(super) fn release_if_stored(&mut self, stored_end: u64) {
        if self.ring.as_ref().is_some_and(|r| stored_end >= r.end()) {
            self.ring = None;
        }
    }

    /// Up to `max` bytes at `offset`, if memory holds them.
    pub(super) fn read(&self, offset: u64, max: usize) -> InMemory {
        let Some(ring) = self.ring.as_ref() else {
            return InMemory::Nothing;
        };
        match ring.read_from(offset) {
            Slice::Bytes(a, b) if !a.is_empty() || !b.is_empty() => {
                let mut bytes = Vec::with_capacity(max.min(a.len() + b.len()));
                bytes.extend_from_slice(&a[..a.len().min(max)]);
                let rest = max - bytes.len();
                bytes.extend_from_slice(&b[..b.len().min(rest)]);
                InMemory::Bytes(bytes)
            }
            Slice::Gone { oldest } => InMemory::Gone { oldest },
            _ => InMemory::Nothing,
        }
    }
}
