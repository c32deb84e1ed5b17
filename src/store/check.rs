//! Damage in the database file: a page that does not read back (a failing SD card, a copy cut
//! short) is found by reading it, or by `PRAGMA quick_check` once after start on a thread of its
//! own. Either marks the store damaged: health says `degraded` and the log says what was found.
//! Nothing is repaired: the file stays as it is, for a person to copy away and look at.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::{Connection, ErrorCode, InterruptHandle, OpenFlags};

use super::Shared;

/// Lines of `quick_check`'s findings kept for the health endpoint.
const FINDINGS: usize = 3;

/// Whether a read failed because the file is damaged (not busy, not a transient error).
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        }
        // A stored chunk that does not decode (`codec`).
        rusqlite::Error::FromSqlConversionFailure(..) => true,
        _ => false,
    }
}

/// Marks the store damaged (the first finding is kept) and logs it once.
pub(super) fn note(shared: &Shared, path: &Path, what: &str) {
    shared.errors.fetch_add(1, Ordering::Relaxed);
    let Ok(mut damaged) = shared.damaged.lock() else {
        return;
    };
    if damaged.is_none() {
        log::error!(
            "store: {} is damaged: {what}; what cannot be read is reported as an error, health \
             says degraded; copy the file away to look at it",
            path.display()
        );
        *damaged = Some(what.to_owned());
    }
}

/// Starts `PRAGMA quick_check` on a read-only connection of its own, on a thread of its own;
/// returns the handle that stops it (at shutdown, so it never holds up the last checkpoint).
pub(super) fn spawn(path: &Path, shared: Arc<Shared>) -> Option<InterruptHandle> {
    let conn = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("store: the integrity check cannot open the database: {e}");
            return None;
        }
    };
    let interrupt = conn.get_interrupt_handle();
    let path = path.to_owned();
    let started = std::thread::Builder::new()
        .name("lanterm-check".into())
        .spawn(move || match quick_check(&conn) {
            Ok(findings) if findings.is_empty() => log::debug!("store: quick_check: ok"),
            Ok(findings) => note(
                &shared,
                &path,
                &format!("quick_check: {}", findings.join("; ")),
            ),
            Err(e) if is_damage(&e) => note(&shared, &path, &format!("quick_check: {e}")),
            Err(e) => log::debug!("store: quick_check did not finish: {e}"),
        });
    if let Err(e) = started {
        log::warn!("store: cannot start the integrity check: {e}");
    }
    Some(interrupt)
}

/// What `quick_check` reports other than `ok` (the first few lines).
fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let mut rows = stmt.query([])?;
    let mut findings = Vec::new();
    while let Some(row) = rows.next()? {
        let line: String = row.get(0)?;
        if line != "ok" && findings.len() < FINDINGS {
            findings.push(line);
        }
    }
    Ok(findings)
}
