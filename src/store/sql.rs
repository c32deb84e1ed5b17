//! The SQL the writer runs: opening and loading, records, output chunks, trimming, deleting.
//!
//! A session's `output_bytes` and `history_start` are not rewritten on every flush (that would
//! dirty one more page per commit): they follow from its chunks, and the record's
//! `output_bytes` is brought up to date when the session changes or ends.
//!
//! A chunk covers output offsets `[start, start + COALESCE(raw_len, length(data)))`; `data` is
//! compressed when `raw_len` is set (see `codec`). Sizes that count against `--store-max-bytes`
//! are stored sizes, `length(data)`: what the file holds.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::codec::{self, Encoded};
use super::{Loaded, Progress, schema};
use crate::model::clock::Timestamp;
use crate::model::id::SessionId;
use crate::model::record::{SessionInfo, Status};

/// Largest output chunk stored in one row.
pub(super) const CHUNK_MAX: usize = 64 * 1024;
/// A stored chunk smaller than this (as stored) is extended by the next flush instead of adding
/// a row, as long as it stays this small. Kept under what SQLite stores inside one 4 KiB table
/// page (4061 bytes of payload), so a trickle of output rewrites one page per commit rather than
/// allocating overflow pages.
const SMALL_CHUNK: usize = 3900;

/// The end offset of a session's newest chunk (`NULL` if it has none).
const STORED_END: &str = "(SELECT start + COALESCE(raw_len, length(data)) FROM output WHERE session = sessions.seq ORDER BY start DESC LIMIT 1)";

/// A session's newest stored chunk: where it starts, its output length and its stored length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tail {
    pub start: u64,
    pub raw: usize,
    pub stored: usize,
}

/// What writing one segment did: the new end of stored output, the newest chunk, and how many
/// stored bytes the file gained.
pub(super) struct Written {
    pub end: u64,
    pub tail: Option<Tail>,
    pub stored: u64,
}

/// Opens the write connection, migrates, marks orphans `lost`, loads every session record.
pub(super) fn open(path: &Path) -> Result<(Connection, Vec<Loaded>), String> {
    let mut conn =
        Connection::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| format!("configuring {}: {e}", path.display()))?;
    schema::prepare(&mut conn).map_err(|e| format!("{}: {e}", path.display()))?;
    // Nothing runs yet, so whatever is still `running` lost its process with the last service;
    // its output ends where its stored output ends.
    conn.execute(
        &format!(
            "UPDATE sessions SET status = 'lost', pid = NULL, ended_at = ?1,
                 output_bytes = COALESCE({STORED_END}, output_bytes)
             WHERE status = 'running'"
        ),
        params![Timestamp::now().0],
    )
    .map_err(|e| format!("marking orphaned sessions lost: {e}"))?;
    let loaded = load(&conn).map_err(|e| format!("loading sessions: {e}"))?;
    Ok((conn, loaded))
}

fn load(conn: &Connection) -> rusqlite::Result<Vec<Loaded>> {
    let mut stmt = conn.prepare(
        "SELECT seq, id, name, status, command, cwd, user, pid, cols, rows, created_at, ended_at,
                exit_code, exit_signal, output_bytes,
                COALESCE((SELECT MIN(start) FROM output WHERE session = sessions.seq), output_bytes),
                created_by
         FROM sessions ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        let seq: i64 = r.get(0)?;
        let id = SessionId::parse(&r.get::<_, String>(1)?);
        let status = Status::parse(&r.get::<_, String>(3)?);
        // A row this build cannot understand is skipped, not fatal: the rest still serve.
        let (Some(id), Some(status)) = (id, status) else {
            return Ok(Err(seq));
        };
        Ok(Ok(SessionInfo {
            seq,
            id,
            name: r.get(2)?,
            status,
            command: r.get(4)?,
            cwd: r.get(5)?,
            user: r.get(6)?,
            pid: r.get(7)?,
            cols: r.get(8)?,
            rows: r.get(9)?,
            created_at: Timestamp(r.get(10)?),
            ended_at: r.get::<_, Option<i64>>(11)?.map(Timestamp),
            exit_code: r.get(12)?,
            exit_signal: r.get(13)?,
            output_bytes: r.get::<_, i64>(14)? as u64,
            history_start: r.get::<_, i64>(15)? as u64,
            clients: 0,
            last_output_at: None,
            created_by: r.get(16)?,
        }))
    })?;
    let mut loaded = Vec::new();
    for row in rows {
        match row? {
            Ok(info) => {
                let progress = Progress::new(info.output_bytes, info.history_start);
                loaded.push(Loaded { info, progress });
            }
            Err(seq) => log::warn!("skipping session #{seq}: unreadable id or status"),
        }
    }
    Ok(loaded)
}

/// Sum of the lengths of all stored chunks.
pub(super) fn total_stored(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(SUM(length(data)), 0) FROM output",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// Writes a session's record; `output_bytes` is what the file holds up to (never more than the
/// record says), so a record committed before its output never claims bytes that are not there.
pub(super) fn upsert(
    tx: &Transaction<'_>,
    i: &SessionInfo,
    output_bytes: u64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sessions (seq, id, name, status, command, cwd, user, pid, cols, rows,
                               created_at, ended_at, exit_code, exit_signal, output_bytes,
                               created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (seq) DO UPDATE SET name = ?3, status = ?4, pid = ?8, cols = ?9, rows = ?10,
             ended_at = ?12, exit_code = ?13, exit_signal = ?14, output_bytes = ?15",
    )?
    .execute(params![
        i.seq,
        i.id.as_str(),
        i.name,
        i.status.as_str(),
        i.command,
        i.cwd,
        i.user,
        i.pid,
        i.cols,
        i.rows,
        i.created_at.0,
        i.ended_at.map(|t| t.0),
        i.exit_code,
        i.exit_signal,
        output_bytes.min(i.output_bytes) as i64,
        i.created_by,
    ])?;
    Ok(())
}

/// Writes one pending segment as chunks of at most [`CHUNK_MAX`] output bytes, compressed when
/// `compress` is on and it helps, first topping up the session's newest chunk if it is small,
/// contiguous and stays small (fewer rows and fewer dirty pages for trickling output).
pub(super) fn insert_output(
    tx: &Transaction<'_>,
    seq: i64,
    start: u64,
    mut buf: &[u8],
    mut tail: Option<Tail>,
    compress: bool,
) -> rusqlite::Result<Written> {
    let mut at = start;
    let mut stored = 0u64;
    if let Some(t) = tail.filter(|t| t.start + t.raw as u64 == start && t.stored < SMALL_CHUNK)
        && let Some((merged, take)) = top_up(tx, seq, t, buf, compress)?
    {
        tx.prepare_cached(
            "UPDATE output SET data = ?3, raw_len = ?4 WHERE session = ?1 AND start = ?2",
        )?
        .execute(params![seq, t.start as i64, merged.data, raw_len(&merged)])?;
        stored += merged.data.len().saturating_sub(t.stored) as u64;
        tail = Some(Tail {
            start: t.start,
            raw: t.raw + take,
            stored: merged.data.len(),
        });
        at += take as u64;
        buf = &buf[take..];
    }
    // Large writes go in large chunks (their bytes fill overflow pages); small raw ones in rows
    // that fit inside a table page. Compressed, a large chunk of text usually fits one anyway.
    let piece = if compress || buf.len() > 4 * SMALL_CHUNK {
        CHUNK_MAX
    } else {
        SMALL_CHUNK
    };
    for chunk in buf.chunks(piece) {
        let e = codec::encode(chunk, compress);
        tx.prepare_cached(
            "INSERT INTO output (session, start, data, raw_len) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![seq, at as i64, e.data, raw_len(&e)])?;
        stored += e.data.len() as u64;
        tail = Some(Tail {
            start: at,
            raw: chunk.len(),
            stored: e.data.len(),
        });
        at += chunk.len() as u64;
    }
    Ok(Written {
        end: at,
        tail,
        stored,
    })
}

/// The newest chunk `t` extended by the head of `buf`, if the result still fits in a page:
/// `(encoded chunk, bytes of buf taken)`. `None`: start a new row instead.
fn top_up(
    tx: &Transaction<'_>,
    seq: i64,
    t: Tail,
    buf: &[u8],
    compress: bool,
) -> rusqlite::Result<Option<(Encoded, usize)>> {
    // Without compression only what keeps the row small is worth reading the row for; with it,
    // try the lot (up to a chunk) and keep the result only if it still fits.
    let room = if compress {
        CHUNK_MAX.saturating_sub(t.raw)
    } else {
        SMALL_CHUNK.saturating_sub(t.raw)
    };
    let take = buf.len().min(room);
    if take == 0 || (compress && buf.len() > 4 * SMALL_CHUNK) {
        return Ok(None);
    }
    let row: Option<(Vec<u8>, Option<i64>)> = tx
        .prepare_cached("SELECT data, raw_len FROM output WHERE session = ?1 AND start = ?2")?
        .query_row(params![seq, t.start as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((data, len)) = row else {
        return Ok(None);
    };
    let Ok(existing) = codec::decode(&data, len) else {
        return Ok(None); // a damaged row is left as it is; new output gets its own
    };
    if existing.len() != t.raw {
        return Ok(None);
    }
    let mut merged = existing.into_owned();
    merged.extend_from_slice(&buf[..take]);
    let e = codec::encode(&merged, compress);
    Ok((e.data.len() <= SMALL_CHUNK).then_some((e, take)))
}

fn raw_len(e: &Encoded) -> Option<i64> {
    e.raw_len.map(|n| n as i64)
}

/// Deletes a session's chunks that start before `cut`; returns the bytes freed.
pub(super) fn trim(tx: &Transaction<'_>, seq: i64, cut: u64) -> rusqlite::Result<u64> {
    let mut stmt = tx.prepare_cached(
        "DELETE FROM output WHERE session = ?1 AND start < ?2 RETURNING length(data)",
    )?;
    let freed = stmt
        .query_map(params![seq, cut as i64], |r| r.get::<_, i64>(0))?
        .try_fold(0u64, |sum, len| len.map(|l| sum + l as u64))?;
    Ok(freed)
}

/// Deletes the chunk written longest ago, of whichever session; returns `(session, bytes)`.
pub(super) fn delete_oldest_chunk(tx: &Transaction<'_>) -> rusqlite::Result<Option<(i64, u64)>> {
    let mut stmt = tx.prepare_cached(
        "DELETE FROM output WHERE id = (SELECT MIN(id) FROM output)
         RETURNING session, length(data)",
    )?;
    let mut rows = stmt.query([])?;
    match rows.next()? {
        Some(row) => Ok(Some((row.get(0)?, row.get::<_, i64>(1)? as u64))),
        None => Ok(None),
    }
}

pub(super) fn oldest_start(tx: &Transaction<'_>, seq: i64) -> rusqlite::Result<Option<u64>> {
    tx.prepare_cached("SELECT MIN(start) FROM output WHERE session = ?1")?
        .query_row(params![seq], |r| r.get::<_, Option<i64>>(0))
        .map(|s| s.map(|s| s as u64))
}

/// Free pages kept in the file after a delete: new output reuses them without growing it.
const RECLAIM_SLACK_PAGES: i64 = 256;

/// Returns free pages beyond [`RECLAIM_SLACK_PAGES`] to the file system (`auto_vacuum` is
/// `INCREMENTAL`: this moves the few pages needed to truncate the file, never rewrites it).
pub(super) fn reclaim(conn: &Connection) -> rusqlite::Result<()> {
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let extra = free - RECLAIM_SLACK_PAGES;
    if extra > 0 {
        // The pragma returns no rows for a count; run it as a statement and step it through.
        let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({extra})"))?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
    }
    Ok(())
}

/// Removes a session and its output; returns the bytes of output freed.
pub(super) fn delete_session(conn: &mut Connection, seq: i64) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let freed: i64 = tx.query_row(
        "SELECT COALESCE(SUM(length(data)), 0) FROM output WHERE session = ?1",
        params![seq],
        |r| r.get(0),
    )?;
    tx.execute("DELETE FROM sessions WHERE seq = ?1", params![seq])?;
    tx.commit()?;
    Ok(freed as u64)
}
