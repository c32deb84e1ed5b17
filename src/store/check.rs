//! Damage in the database file: a page that does not read back (a failing SD card, a copy cut
//! short) is found by reading it, or by `PRAGMA quick_check` once after start on a thread of its
//! own. Either marks the store damaged: health says `degraded` and the log says what was found.
//! Nothing is repaired: the file stays as it is, for a person to copy away and look at.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

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

/// The integrity check's connection: stopped and closed with the store.
pub(super) struct Check {
    interrupt: InterruptHandle,
    /// Kept (idle, with a small page cache) once the check is done, rather than closed while
    /// the store's other connections hold locks on the file: SQLite would then keep its
    /// descriptor open anyway, for a later open to reuse. Closed with the store.
    conn: Arc<Mutex<Option<Connection>>>,
}

impl Check {
    /// Stops the check if it still runs (so it never holds up the last checkpoint) and closes
    /// its connection.
    pub(super) fn stop(self) {
        self.interrupt.interrupt();
        if let Ok(mut conn) = self.conn.lock() {
            conn.take();
        }
    }
}

/// Starts `PRAGMA quick_check` on a read-only connection of its own, on a thread of its own.
pub(super) fn spawn(path: &Path, shared: Arc<Shared>) -> Option<Check> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.execute_batch("PRAGMA cache_size = -256;").map(|()| c));
    let conn = match conn {
        Ok(c) => c,
        Err(e) => {
            log::warn!("store: the integrity check cannot open the database: {e}");
            return None;
        }
    };
    let interrupt = conn.get_interrupt_handle();
    let slot = Arc::new(Mutex::new(None));
    let keep = slot.clone();
    let path = path.to_owned();
    let started = std::thread::Builder::new()
        .name("lanterm-check".into())
        .spawn(move || {
            let result = quick_check(&conn);
            let _ = conn.execute_batch("PRAGMA shrink_memory;"); // kept idle: no page cache
            if let Ok(mut slot) = keep.lock() {
                *slot = Some(conn);
            }
            match result {
                Ok(findings) if findings.is_empty() => {
                    log::info!("store: quick_check found nothing wrong with the database");
                }
                Ok(findings) => {
                    let found = format!("quick_check: {}", findings.join("; "));
                    note(&shared, &path, &found);
                }
                Err(e) if is_damage(&e) => note(&shared, &path, &format!("quick_check: {e}")),
                Err(e) => log::debug!("store: quick_check did not finish: {e}"),
            }
        });
    if let Err(e) = started {
        log::warn!("store: cannot start the integrity check: {e}");
    }
    Some(Check {
        interrupt,
        conn: slot,
    })
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
