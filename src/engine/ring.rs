//! The history ring: a session's most recent output, fixed-size, addressed by absolute offset.
//!
//! A session's output is one endless byte stream; an *offset* is a position in it (the first byte
//! ever produced is offset 0). The ring keeps the last [`RING_CAPACITY`] bytes in a
//! fixed-capacity [`heapless::Vec`] and remembers how many bytes were ever written, so a reader can ask
//! for "bytes from offset N" and get either those bytes (as at most two slices, since the buffer
//! wraps) or the answer that N has already been overwritten.

use heapless::Vec as FixedVec;

/// Bytes of output each running session keeps in memory (compile-time, so the ring never grows).
pub const RING_CAPACITY: usize = 64 * 1024;

/// What the ring holds from a requested offset onward.
#[derive(Debug, PartialEq, Eq)]
pub enum Slice<'a> {
    /// The bytes from the requested offset up to the newest byte, in order: `.0` then `.1`.
    /// Both are empty when the reader is already at the end.
    Bytes(&'a [u8], &'a [u8]),
    /// The requested offset was overwritten; `oldest` is the oldest offset still held.
    Gone { oldest: u64 },
    /// The requested offset lies beyond everything produced so far (`end`).
    Beyond { end: u64 },
}

/// A fixed-capacity byte ring that tracks absolute output offsets.
///
/// The storage is a `heapless::Vec` that fills up once and is then overwritten in place, so
/// writes and reads are plain `memcpy`s of at most two pieces.
pub struct Ring {
    buf: FixedVec<u8, RING_CAPACITY>,
    /// Where the next byte goes once the buffer is full (the oldest byte's index).
    head: usize,
    /// Total bytes ever written: the offset one past the newest byte (`output_bytes`).
    end: u64,
}

impl Ring {
    /// A ring on the heap whose first byte will have offset `start` (non-zero when a session's
    /// history continues from an earlier process, e.g. after a restart).
    ///
    /// `Box::default` builds the 64 KiB buffer directly in its heap allocation in optimised
    /// builds, so it never needs that much room on a (possibly small) thread stack.
    pub fn boxed(start: u64) -> Box<Ring> {
        let mut ring: Box<Ring> = Box::default();
        ring.end = start;
        ring
    }

    /// Offset one past the newest byte: the total number of bytes ever produced.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The oldest offset still held (equal to [`Ring::end`] when the ring is empty).
    pub fn oldest(&self) -> u64 {
        self.end - self.buf.len() as u64
    }

    /// Appends output. A write larger than the ring keeps only its last [`RING_CAPACITY`] bytes,
    /// but still advances the offset by the whole length.
    pub fn write(&mut self, data: &[u8]) {
        self.end += data.len() as u64;
        let mut data = data
            .get(data.len().saturating_sub(RING_CAPACITY)..)
            .unwrap_or_default();
        // Filling phase: append while there is room.
        let room = RING_CAPACITY - self.buf.len();
        if room > 0 {
            let (now, rest) = data.split_at(data.len().min(room));
            // Cannot fail: `now` fits in the remaining capacity.
            let _ = self.buf.extend_from_slice(now);
            data = rest;
        }
        // Full: overwrite the oldest bytes, wrapping at most once.
        while !data.is_empty() {
            let n = data.len().min(RING_CAPACITY - self.head);
            self.buf[self.head..self.head + n].copy_from_slice(&data[..n]);
            self.head = (self.head + n) % RING_CAPACITY;
            data = &data[n..];
        }
    }

    /// The held bytes in order, oldest first, as two pieces.
    fn as_slices(&self) -> (&[u8], &[u8]) {
        let (newer, older) = self.buf.split_at(self.head);
        (older, newer)
    }

    /// The bytes held from `offset` to the end.
    pub fn read_from(&self, offset: u64) -> Slice<'_> {
        if offset > self.end {
            return Slice::Beyond { end: self.end };
        }
        let oldest = self.oldest();
        if offset < oldest {
            return Slice::Gone { oldest };
        }
        // `skip` fits in usize: it is at most the buffer length.
        let skip = (offset - oldest) as usize;
        let (first, second) = self.as_slices();
        if skip < first.len() {
            Slice::Bytes(&first[skip..], second)
        } else {
            Slice::Bytes(&second[skip - first.len()..], &[])
        }
    }
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            buf: FixedVec::new(),
            head: 0,
            end: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: Slice<'_>) -> Vec<u8> {
        match s {
            Slice::Bytes(a, b) => [a, b].concat(),
            other => panic!("expected bytes, got {other:?}"),
        }
    }

    /// A deterministic byte pattern where every position differs from its neighbours.
    fn pattern(start: u64, len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| ((start + i) % 251) as u8).collect()
    }

    #[test]
    fn empty_ring_reads_nothing_at_zero() {
        let r = Ring::boxed(0);
        assert_eq!(r.end(), 0);
        assert_eq!(r.oldest(), 0);
        assert_eq!(r.read_from(0), Slice::Bytes(&[], &[]));
        assert_eq!(r.read_from(1), Slice::Beyond { end: 0 });
    }

    #[test]
    fn ring_can_start_at_a_later_offset() {
        let mut r = Ring::boxed(1000);
        assert_eq!(r.read_from(999), Slice::Gone { oldest: 1000 });
        r.write(b"abc");
        assert_eq!(collect(r.read_from(1001)), b"bc");
        assert_eq!(r.end(), 1003);
    }

    #[test]
    fn exact_fill_keeps_everything() {
        let mut r = Ring::boxed(0);
        let data = pattern(0, RING_CAPACITY);
        r.write(&data);
        assert_eq!(r.oldest(), 0);
        assert_eq!(r.end(), RING_CAPACITY as u64);
        assert_eq!(collect(r.read_from(0)), data);
        // One more byte pushes offset 0 out.
        r.write(&[7]);
        assert_eq!(r.read_from(0), Slice::Gone { oldest: 1 });
        assert_eq!(collect(r.read_from(RING_CAPACITY as u64)), [7]);
    }

    #[test]
    fn wraparound_returns_two_slices_in_order() {
        let mut r = Ring::boxed(0);
        let mut all = Vec::new();
        for i in 0..40u64 {
            let chunk = pattern(i * 5000, 5000);
            r.write(&chunk);
            all.extend_from_slice(&chunk);
        }
        let end = all.len() as u64;
        let oldest = end - RING_CAPACITY as u64;
        assert_eq!(r.oldest(), oldest);
        match r.read_from(oldest) {
            Slice::Bytes(a, b) => {
                assert!(
                    !a.is_empty() && !b.is_empty(),
                    "a wrapped ring has two parts"
                );
                assert_eq!([a, b].concat(), &all[oldest as usize..]);
            }
            other => panic!("{other:?}"),
        }
        // Every reader position inside the ring sees exactly the tail from there.
        for off in [oldest, oldest + 1, end - 70_000 + 10_000, end - 1, end] {
            assert_eq!(
                collect(r.read_from(off)),
                &all[off as usize..],
                "offset {off}"
            );
        }
    }

    #[test]
    fn huge_write_keeps_the_tail_and_counts_everything() {
        let mut r = Ring::boxed(0);
        r.write(b"head");
        let big = pattern(4, 3 * RING_CAPACITY + 123);
        r.write(&big);
        assert_eq!(r.end(), 4 + big.len() as u64);
        assert_eq!(r.oldest(), r.end() - RING_CAPACITY as u64);
        assert_eq!(
            collect(r.read_from(r.oldest())),
            &big[big.len() - RING_CAPACITY..]
        );
    }

    #[test]
    fn readers_at_the_edges() {
        let mut r = Ring::boxed(0);
        r.write(&pattern(0, RING_CAPACITY + 10));
        let oldest = r.oldest();
        assert_eq!(r.read_from(oldest - 1), Slice::Gone { oldest });
        assert_eq!(collect(r.read_from(oldest)).len(), RING_CAPACITY);
        assert_eq!(r.read_from(r.end()), Slice::Bytes(&[], &[]));
        assert_eq!(r.read_from(r.end() + 1), Slice::Beyond { end: r.end() });
    }

    #[test]
    fn random_writes_match_a_plain_model() {
        let mut r = Ring::boxed(0);
        let mut model = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..400 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = match seed % 10 {
                0 => RING_CAPACITY + (seed >> 20) as usize % 5000,
                1..=3 => (seed >> 20) as usize % 40_000,
                _ => (seed >> 20) as usize % 300,
            };
            let chunk = pattern(model.len() as u64, len);
            r.write(&chunk);
            model.extend_from_slice(&chunk);
            let from = model
                .len()
                .saturating_sub((seed >> 40) as usize % (RING_CAPACITY + 1));
            assert_eq!(collect(r.read_from(from as u64)), &model[from..]);
        }
    }
}
