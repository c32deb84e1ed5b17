//! A database from a newer lanterm (a higher schema version) is refused without being written
//! to: `lanterm serve` and `lanterm passwd` exit with one line saying so, the file is
//! byte-identical and no `-wal`, `-shm` or `-journal` appears beside it.

mod common;
#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::TempDir;

fn beside(db: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", db.display()))
}

/// A database in SQLite's default (rollback journal) mode with `user_version` = `version`.
fn make_db(db: &Path, version: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("CREATE TABLE sessions (seq INTEGER PRIMARY KEY, future TEXT);")
        .unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
    drop(conn);
}

fn assert_untouched(db: &Path, before: &[u8]) {
    assert!(std::fs::read(db).unwrap() == before, "the database changed");
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(!beside(db, suffix).exists(), "{suffix} created");
    }
}

#[test]
fn a_newer_schema_is_refused_and_the_file_is_left_byte_identical() {
    let dir = TempDir::new("newer");
    let db = dir.db();
    make_db(&db, 9999);
    let before = std::fs::read(&db).unwrap();

    let out = Command::new(server::server_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-auth",
            "--allow-root",
        ])
        .arg("--db")
        .arg(&db)
        .env_clear()
        .env("HOME", "/root")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("schema version 9999"), "{err}");
    assert_untouched(&db, &before);

    // The offline password tool refuses it the same way.
    let out = server::passwd(&db, "correct horse battery");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("schema version 9999"),
        "{out:?}"
    );
    assert_untouched(&db, &before);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = TempDir::new("newer");
    let db = dir.db();
    std::fs::write(&db, b"these are notes, not a database\n".repeat(10)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let out = Command::new(server::server_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-auth",
            "--allow-root",
        ])
        .arg("--db")
        .arg(&db)
        .env_clear()
        .env("HOME", "/root")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not an SQLite database"), "{err}");
    assert_untouched(&db, &before);
}
