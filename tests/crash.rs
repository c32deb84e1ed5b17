//! Crash safety: a service killed with SIGKILL in the middle of writing leaves a database that
//! passes `integrity_check`, holds a prefix of the output, and shows the session as `lost`.
//!
//! The test re-runs its own binary as the service (`crash_child`, ignored unless asked for by
//! name with `CRASH_CHILD_DB` set), kills it, and inspects what is left.

mod common;

use std::process::{Command, Stdio};

use common::*;
use lanterm::model::record::Status;

/// The expected output: numbered lines, so any prefix can be checked exactly.
fn expected_prefix(len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 1u64;
    while out.len() < len {
        out.extend_from_slice(format!("{i}\n").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// The victim: an engine with one session counting as fast as it can, committing often.
#[test]
#[ignore = "run by kill_mid_batch_leaves_a_consistent_prefix"]
fn crash_child() {
    let Some(db) = std::env::var_os("CRASH_CHILD_DB") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let m = engine(
            std::path::Path::new(&db),
            &["--flush-interval", "10ms", "--flush-bytes", "4KiB"],
        );
        m.create(command(
            "stty raw -echo; i=0; while :; do i=$((i+1)); echo $i; done",
        ))
        .await
        .unwrap();
        println!("child: started");
        std::future::pending::<()>().await;
    });
}

/// How many sessions the file holds (0 if it cannot be read yet).
fn sessions(db: &std::path::Path) -> usize {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, flags) else {
        return 0;
    };
    conn.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get::<_, i64>(0))
        .map_or(0, |n| n as usize)
}

/// The newest session's stored output.
fn stored_output(db: &std::path::Path) -> Option<(Vec<u8>, i64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let mut stmt = conn
        .prepare(
            "SELECT start, data, raw_len FROM output
             WHERE session = (SELECT MAX(seq) FROM sessions) ORDER BY start",
        )
        .ok()?;
    let mut out = Vec::new();
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, decode_chunk(r.get(1)?, r.get(2)?)))
        })
        .ok()?;
    let mut chunks = 0;
    for row in rows {
        let (start, data) = row.ok()?;
        assert_eq!(
            start as usize,
            out.len(),
            "chunks are contiguous from offset 0"
        );
        out.extend_from_slice(&data);
        chunks += 1;
    }
    Some((out, chunks))
}

#[test]
fn kill_mid_batch_leaves_a_consistent_prefix() {
    let dir = TempDir::new("crash");
    let db = dir.db();
    let exe = std::env::current_exe().unwrap();
    for round in 0..3 {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child", "--nocapture"])
            .env("CRASH_CHILD_DB", &db)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until a few batches of this round's session are committed, then kill while it
        // keeps writing. A file another process writes: polled. (Until the child has recorded
        // its session, the newest one is the last round's, which may hold that much already.)
        let want = 64 * 1024 * (round + 1);
        let stored = || {
            (
                sessions(&db),
                stored_output(&db).map_or(0, |(out, _)| out.len()),
            )
        };
        let what = format!("session {} with {want} bytes stored", round + 1);
        poll_until(TIMEOUT, &what, stored, |&(n, len)| {
            n == round + 1 && len >= want
        });
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();

        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(conn);
    }
    // Each round's session: what is stored is exactly a prefix of what it produced.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let seqs: Vec<i64> = conn
        .prepare("SELECT seq FROM sessions ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(seqs.len(), 3);
    for seq in &seqs {
        let data: Vec<u8> = conn
            .prepare("SELECT data, raw_len FROM output WHERE session = ?1 ORDER BY start")
            .unwrap()
            .query_map([seq], |r| Ok(decode_chunk(r.get(0)?, r.get(1)?)))
            .unwrap()
            .flat_map(Result::unwrap)
            .collect();
        assert!(
            data.len() >= 64 * 1024,
            "session {seq} stored {} bytes",
            data.len()
        );
        assert!(
            data == expected_prefix(data.len()),
            "session {seq}: not a prefix of its output"
        );
    }
    drop(conn);
    // A new service finds them all `lost`, with their output readable.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let m = engine(&db, &[]);
        let list = m.list(None);
        assert_eq!(list.len(), 3);
        for info in &list {
            assert_eq!(info.status, Status::Lost);
            assert!(info.ended_at.is_some());
            let session = m.session(info.id.as_str()).unwrap();
            let out = read_all(&m, &session).await;
            assert_eq!(out.len() as u64, info.output_bytes);
            assert!(out == expected_prefix(out.len()));
        }
    });
}
