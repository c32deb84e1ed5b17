//! One service per database: a second `lanterm serve` on the same `--db` is refused before it
//! touches anything (the database is byte-identical, the first service's sessions still run),
//! with one line naming the pid that holds the database; an upgrade keeps the lock.

mod common;
#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::TIMEOUT;
use nix::sys::signal::Signal;
use server::Server;

/// The database's bytes and its write-ahead log's.
fn snapshot(db: &Path) -> (Vec<u8>, Vec<u8>) {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    (
        std::fs::read(db).unwrap(),
        std::fs::read(wal).unwrap_or_default(),
    )
}

/// Waits until the file shows session `id` with `status` (committed by the running service).
fn wait_committed(db: &Path, id: &str, status: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let found: Option<String> = conn
            .query_row("SELECT status FROM sessions WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .ok();
        if found.as_deref() == Some(status) {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never committed {status}");
        std::thread::sleep(Duration::from_millis(20)); // another process's commit: no event
    }
}

/// A second `lanterm serve` on `db`: its exit status and what it printed (killed and failing
/// the test if it is still running after [`TIMEOUT`]).
fn second_serve(db: &Path) -> Output {
    let mut child = Command::new(server::server_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-auth",
            "--allow-root",
        ])
        .arg("--db")
        .arg(db)
        .env_clear()
        .env("HOME", "/root")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the second service kept running: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10)); // another process's exit: no event
    }
    child.wait_with_output().unwrap()
}

/// Asserts the refusal: exit status 1, one line naming `pid`.
fn assert_refused(out: &Output, pid: i32) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].contains(&format!("pid {pid}")), "{err}");
}

#[test]
fn a_second_service_on_the_same_database_is_refused_and_changes_nothing() {
    let s = Server::start(&[]);
    let db = s.dir.db();
    let running = s.run("sleep 600");
    let ended = s.run("echo done");
    s.wait_exit(&ended);
    wait_committed(&db, &running, "running");
    wait_committed(&db, &ended, "completed");
    let before = snapshot(&db);

    let out = second_serve(&db);
    assert_refused(&out, s.pid().as_raw());
    assert!(before == snapshot(&db), "the database changed");
    // The first service goes on as before: its session still runs and new ones start.
    assert_eq!(s.session(&running)["status"], "running");
    let more = s.run("echo more");
    assert_eq!(s.wait_exit(&more)["status"], "completed");
}

#[test]
fn an_upgraded_service_still_holds_its_database() {
    let s = Server::start(&[]);
    let running = s.run("sleep 600");
    s.signal(Signal::SIGUSR2);
    s.wait_log("ready on", 2);
    assert_eq!(s.get("/api/health").status, 200);
    assert_eq!(s.session(&running)["status"], "running");
    let out = second_serve(&s.dir.db());
    assert_refused(&out, s.pid().as_raw());
    assert_eq!(s.session(&running)["status"], "running");
}
