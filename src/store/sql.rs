//! The SQL the writer runs: opening and loading, records, output chunks, trimming, deleting.
//!
//! A session's `output_bytes` and `history_start` are not rewritten on every flush (that would
//! dirty one more page per commit): they follow from its chunks, and the record's
//! `output_bytes` is brought up to date when the session changes or ends.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Loaded, Progress, schema};
use crate::clock::Timestamp;
use crate::id::SessionId;
use crate::record::{SessionInfo, Status};

/// Largest output chunk stored in one row.
pub(super) const CHUNK_MAX: usize = 64 * 1024;
/// A stored chunk smaller than this is extended by the next flush instead of adding a row. Kept
/// under what SQLite stores inside one 4 KiB table page (4061 bytes of payload), so a trickle of
/// output rewrites one page per commit rather than allocating overflow pages.
const SMALL_CHUNK: usize = 3900;

/// The end offset of a session's newest chunk (`NULL` if it has none).
const STORED_END: &str = "(SELECT start + length(data) FROM output WHERE session = sessions.seq ORDER BY start DESC LIMIT 1)";

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

pub(super) fn upsert(tx: &Transaction<'_>, i: &SessionInfo) -> rusqlite::Result<()> {
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
        i.output_bytes as i64,
        i.created_by,
    ])?;
    Ok(())
}

/// Writes one pending segment as chunks of at most [`CHUNK_MAX`] bytes, first topping up the
/// session's newest chunk if it is small and contiguous (fewer rows for trickling output).
/// Returns the new end and the newest chunk `(start, len)`.
pub(super) fn insert_output(
    tx: &Transaction<'_>,
    seq: i64,
    start: u64,
    mut buf: &[u8],
    mut last: Option<(u64, usize)>,
) -> rusqlite::Result<(u64, Option<(u64, usize)>)> {
    let mut at = start;
    let small = last.filter(|&(s, len)| s + len as u64 == start && len < SMALL_CHUNK);
    // Concatenated here: SQLite's `||` would turn the blob into text.
    let existing: Option<Vec<u8>> = match small {
        Some((s, _)) => tx
            .prepare_cached("SELECT data FROM output WHERE session = ?1 AND start = ?2")?
            .query_row(params![seq, s as i64], |r| r.get(0))
            .optional()?,
        None => None,
    };
    if let (Some((s, len)), Some(mut merged)) = (small, existing) {
        let take = buf.len().min(SMALL_CHUNK - len);
        let (head, rest) = buf.split_at(take);
        merged.extend_from_slice(head);
        tx.prepare_cached("UPDATE output SET data = ?3 WHERE session = ?1 AND start = ?2")?
            .execute(params![seq, s as i64, merged])?;
        last = Some((s, len + take));
        at += take as u64;
        buf = rest;
    }
    // Large writes go in large chunks (their bytes fill overflow pages); small ones in rows that
    // fit inside a table page, so a trickle of output dirties few pages per commit.
    let piece = if buf.len() > 4 * SMALL_CHUNK {
        CHUNK_MAX
    } else {
        SMALL_CHUNK
    };
    for chunk in buf.chunks(piece) {
        tx.prepare_cached("INSERT INTO output (session, start, data) VALUES (?1, ?2, ?3)")?
            .execute(params![seq, at as i64, chunk])?;
        last = Some((at, chunk.len()));
        at += chunk.len() as u64;
    }
    Ok((at, last))
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
