//! Reading stored output through a read-only connection, beside the writer (WAL allows both).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::codec;

/// Stored bytes of one session starting at `start` (which is after the offset asked for when
/// the bytes in between are no longer stored). Empty `data` means nothing is stored from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub start: u64,
    pub data: Vec<u8>,
}

pub(super) struct Reader {
    conn: Mutex<Connection>,
}

impl Reader {
    pub(super) fn open(path: &Path) -> Result<Reader, String> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| format!("opening {} for reading: {e}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| format!("configuring the reader: {e}"))?;
        Ok(Reader {
            conn: Mutex::new(conn),
        })
    }

    /// The stored ranges of session `seq` that meet `[from, to)`, contiguous chunks merged, in
    /// order: what can be read from the file, and where it has holes.
    pub(super) fn runs(&self, seq: i64, from: u64, to: u64) -> rusqlite::Result<Vec<(u64, u64)>> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let at = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut stmt = conn.prepare_cached(
            "SELECT start, start + COALESCE(raw_len, length(data)) FROM output
             WHERE session = ?1 AND start < ?3 AND start >= COALESCE(
                 (SELECT MAX(start) FROM output WHERE session = ?1 AND start <= ?2), 0)
             ORDER BY start",
        )?;
        let mut rows = stmt.query(params![seq, at(from), at(to)])?;
        let mut runs: Vec<(u64, u64)> = Vec::new();
        while let Some(row) = rows.next()? {
            let (start, end) = (row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64);
            match runs.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => runs.push((start, end)),
            }
        }
        runs.retain(|&(_, end)| end > from);
        Ok(runs)
    }

    /// Up to `max` contiguous stored bytes of session `seq` from the first stored offset at or
    /// after `from`.
    pub(super) fn read(&self, seq: i64, from: u64, max: usize) -> rusqlite::Result<Stored> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let from_i = i64::try_from(from).unwrap_or(i64::MAX);
        // The last chunk starting at or before `from` may contain it; scan from there.
        let base: i64 = conn
            .prepare_cached(
                "SELECT start FROM output WHERE session = ?1 AND start <= ?2
                 ORDER BY start DESC LIMIT 1",
            )?
            .query_row(params![seq, from_i], |r| r.get(0))
            .optional()?
            .unwrap_or(from_i);
        let mut stmt = conn.prepare_cached(
            "SELECT start, data, raw_len FROM output WHERE session = ?1 AND start >= ?2
             ORDER BY start",
        )?;
        let mut rows = stmt.query(params![seq, base])?;
        let mut start: Option<u64> = None;
        let mut data = Vec::new();
        while let Some(row) = rows.next()? {
            let chunk_start = row.get::<_, i64>(0)? as u64;
            let blob = codec::decode(row.get_ref(1)?.as_blob()?, row.get(2)?).map_err(|e| {
                let e = format!("chunk at offset {chunk_start}: {e}");
                rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, e.into())
            })?;
            let next = match start {
                Some(s) => s + data.len() as u64,
                None => from.max(chunk_start),
            };
            if chunk_start > next {
                break; // a hole in the stored output: the caller asks again from there
            }
            // Bytes of this chunk before `next` were delivered already (or precede `from`).
            let Some(part) = usize::try_from(next - chunk_start)
                .ok()
                .and_then(|s| blob.get(s..))
            else {
                continue;
            };
            if part.is_empty() {
                continue;
            }
            start.get_or_insert(next);
            let take = part.len().min(max - data.len());
            data.extend_from_slice(&part[..take]);
            if data.len() >= max {
                break;
            }
        }
        let start = start.unwrap_or(from);
        Ok(Stored { start, data })
    }
}
