//! The database schema and its migrations, versioned with `PRAGMA user_version`.

use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Each entry takes the schema from version `index` to `index + 1`. Append, never edit.
const MIGRATIONS: &[&str] = &[
    // 1: sessions and their output in chunks. Chunks are appended in a rowid table (SQLite's
    //    fast path for inserts at the end) and found by (session, start offset) through an index.
    "CREATE TABLE sessions (
        seq           INTEGER PRIMARY KEY,
        id            TEXT NOT NULL UNIQUE,
        name          TEXT NOT NULL,
        status        TEXT NOT NULL,
        command       TEXT,
        cwd           TEXT NOT NULL,
        user          TEXT NOT NULL,
        pid           INTEGER,
        cols          INTEGER NOT NULL,
        rows          INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        ended_at      INTEGER,
        exit_code     INTEGER,
        exit_signal   TEXT,
        output_bytes  INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE output (
        id      INTEGER PRIMARY KEY,
        session INTEGER NOT NULL REFERENCES sessions(seq) ON DELETE CASCADE,
        start   INTEGER NOT NULL,
        data    BLOB NOT NULL
    );
    CREATE UNIQUE INDEX output_by_session ON output (session, start);",
    // 2: logins. One row holds the password's Argon2id hash; tokens are kept only as hashes.
    //    Sessions record who asked for them.
    "CREATE TABLE login (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        password    TEXT NOT NULL,
        changed_at  INTEGER NOT NULL
    );
    CREATE TABLE tokens (
        hash        BLOB PRIMARY KEY,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        address     TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE sessions ADD COLUMN created_by TEXT;",
    // 3: compressed output. A chunk with `raw_len` set holds that many output bytes, LZ4
    //    compressed; `NULL` (every older chunk) means `data` is the output itself.
    "ALTER TABLE output ADD COLUMN raw_len INTEGER;",
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Refuses a database this build cannot use (a newer schema, not SQLite at all) without
/// writing to it: no journal mode switched, no header rewritten, no `-wal` created. Read from
/// the file's header; when a write-ahead log may hold a newer header, through a read-only
/// connection (which never checkpoints). A missing or empty file is a new database.
pub fn check_file(path: &Path) -> Result<(), String> {
    let mut header = [0u8; 100];
    let read = match std::fs::File::open(path) {
        Ok(mut f) => read_up_to(&mut f, &mut header),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("opening {}: {e}", path.display())),
    }
    .map_err(|e| format!("reading {}: {e}", path.display()))?;
    if read == 0 {
        return Ok(());
    }
    if read < header.len() || &header[..16] != b"SQLite format 3\0" {
        return Err(format!(
            "{} is not an SQLite database; give another --db",
            path.display()
        ));
    }
    let mut version = i64::from(i32::from_be_bytes([
        header[60], header[61], header[62], header[63],
    ]));
    let wal = std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
    if version <= VERSION && wal > 0 {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("opening {} to read its version: {e}", path.display()))?;
        version = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| format!("{}: reading the schema version: {e}", path.display()))?;
    }
    if version > VERSION {
        return Err(newer(version));
    }
    Ok(())
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn newer(version: i64) -> String {
    format!(
        "the database has schema version {version}, newer than this lanterm knows ({VERSION}); \
         use a newer lanterm or another --db (the file was left as it is)"
    )
}

/// Sets the connection's pragmas and brings the schema up to [`VERSION`].
pub fn prepare(conn: &mut Connection) -> Result<(), String> {
    // Only takes effect on a new, empty file; lets space be reclaimed without a full rewrite.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
        .map_err(|e| format!("setting auto_vacuum: {e}"))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| format!("switching to WAL: {e}"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the database refused WAL mode (got {mode})"));
    }
    // A checkpoint every 1000 pages (4 MiB) of WAL: a page that several commits dirty in that
    // window reaches the database once, and a steady stream is written twice in all (WAL, then
    // database). Past a burst the WAL file is cut back to 4 MiB rather than kept at its peak.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = 1000; PRAGMA journal_size_limit = 4194304;",
    )
    .map_err(|e| format!("setting pragmas: {e}"))?;
    migrate(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), String> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("reading the schema version: {e}"))?;
    if current > VERSION {
        return Err(newer(current));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let to = from + 1;
        let tx = conn
            .transaction()
            .map_err(|e| format!("starting migration {to}: {e}"))?;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", to as i64))
            .and_then(|()| tx.commit())
            .map_err(|e| format!("migrating the schema to version {to}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_gets_the_latest_schema_and_reopening_is_a_no_op() {
        let dir = std::env::temp_dir().join(format!("lanterm-schema-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        for _ in 0..2 {
            let mut conn = Connection::open(&path).unwrap();
            prepare(&mut conn).unwrap();
            let v: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(v, VERSION);
        }
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        let err = check_file(&path).unwrap_err();
        assert!(err.contains("newer than this lanterm"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let mut conn = Connection::open(&path).unwrap();
        let err = prepare(&mut conn).unwrap_err();
        assert!(err.contains("newer than this lanterm"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
