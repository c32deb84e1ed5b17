//! Gentle on flash: stored output is compressed and reads back byte for byte (whatever mix of
//! compressed and raw chunks a file holds), deleting gives the space back, and retention
//! deletes ended sessions past their time, at start and on its sweep. Real PTYs, real files.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{TIMEOUT, TempDir, command, engine, poll_until_async, read_all, wait_exit};
use lanterm::engine::Manager;
use rusqlite::Connection;

/// Deterministic bytes that do not compress (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A build log's worth of text: compresses well.
fn text(lines: usize) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| format!("  CC [M]  drivers/net/wireless/module_{i}.o\r\n").into_bytes())
        .collect()
}

/// Runs a session that prints `file` raw (no newline translation) and returns all its output.
async fn print_file(m: &Manager, file: &Path) -> (String, Vec<u8>) {
    let cmd = format!("stty raw -echo; cat {}", file.display());
    let info = m.create(command(&cmd)).await.unwrap();
    let id = info.id.as_str().to_owned();
    wait_exit(m, &id).await;
    let session = m.session(&id).unwrap();
    (id, read_all(m, &session).await)
}

/// (chunks, compressed chunks, stored bytes, output bytes) of the `output` table.
fn chunk_stats(db: &Path) -> (i64, i64, i64, i64) {
    let conn = Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COUNT(*), COUNT(raw_len), COALESCE(SUM(length(data)), 0),
                COALESCE(SUM(COALESCE(raw_len, length(data))), 0) FROM output",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_stored_compressed_and_reads_back_exactly_after_a_restart() {
    let dir = TempDir::new("compress");
    let mut content = text(20_000);
    content.extend(noise(300_000));
    content.extend(text(5_000));
    let file = dir.path().join("mix.bin");
    std::fs::write(&file, &content).unwrap();

    let m = engine(&dir.db(), &[]);
    let (id, out) = print_file(&m, &file).await;
    assert!(
        out == content,
        "{} bytes read back, {} printed",
        out.len(),
        content.len()
    );
    m.shutdown().await;

    let (chunks, packed, stored, raw) = chunk_stats(&dir.db());
    assert_eq!(
        raw as usize,
        content.len(),
        "the chunks cover every byte once"
    );
    assert!(
        packed > 0 && packed < chunks,
        "text compressed, noise kept raw: {packed}/{chunks}"
    );
    // 1.15 MB of text shrinks several times; the 300 kB of noise stays as it is.
    assert!(
        stored < 600_000,
        "{stored} bytes stored for {raw} of output"
    );

    // A restart reads the same bytes from the file alone.
    let m = engine(&dir.db(), &[]);
    let session = m.session(&id).unwrap();
    assert!(read_all(&m, &session).await == content);
    // Reading from the middle of a compressed chunk starts exactly there.
    let from = 123_457u64;
    let part = session.read_at(m.store(), from, 1000).await.unwrap();
    match part {
        lanterm::engine::Chunk::Data(bytes) => {
            assert_eq!(
                &bytes[..],
                &content[from as usize..from as usize + bytes.len()]
            );
            assert!(!bytes.is_empty());
        }
        other => panic!("expected data at {from}, got {other:?}"),
    }
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_compression_off_new_output_is_raw_and_compressed_history_still_reads() {
    let dir = TempDir::new("compress-off");
    let content = text(10_000);
    let file = dir.path().join("log.txt");
    std::fs::write(&file, &content).unwrap();

    let m = engine(&dir.db(), &[]);
    let (first, _) = print_file(&m, &file).await;
    m.shutdown().await;
    let (_, packed_before, _, _) = chunk_stats(&dir.db());
    assert!(packed_before > 0);

    let m = engine(&dir.db(), &["--compress=off"]);
    let (second, out) = print_file(&m, &file).await;
    assert!(out == content);
    let old = m.session(&first).unwrap();
    assert!(
        read_all(&m, &old).await == content,
        "compressed history reads with --compress off"
    );
    m.shutdown().await;
    let (chunks, packed, _, raw) = chunk_stats(&dir.db());
    assert_eq!(packed, packed_before, "nothing new was compressed");
    assert!(chunks > packed);
    assert_eq!(raw as usize, 2 * content.len());
    let _ = second;
}

/// A trickle of small writes (a build log line at a time) extends one compressed row that fits
/// a page instead of adding a row per flush, and still reads back exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_output_tops_up_a_small_compressed_row() {
    let dir = TempDir::new("trickle");
    let m = engine(&dir.db(), &["--flush-interval", "10ms"]);
    let cmd = "i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo \"[$i] compiling module\"; sleep 0.005; done";
    let info = m.create(command(cmd)).await.unwrap();
    let end = wait_exit(&m, info.id.as_str()).await.output_bytes;
    let session = m.session(info.id.as_str()).unwrap();
    let out = read_all(&m, &session).await;
    assert_eq!(out.len() as u64, end);
    assert!(common::contains(&out, "[200] compiling module"));
    m.shutdown().await;
    let (chunks, packed, stored, raw) = chunk_stats(&dir.db());
    assert_eq!(raw as u64, end);
    let commits_at_least = 10; // 200 lines over at least a second at a 10 ms interval
    assert!(
        chunks < commits_at_least,
        "{chunks} rows for {raw} bytes ({stored} stored)"
    );
    assert!(packed >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_session_gives_its_space_back_to_the_file_system() {
    let dir = TempDir::new("reclaim");
    let file = dir.path().join("noise.bin");
    std::fs::write(&file, noise(6_000_000)).unwrap();
    let m = engine(&dir.db(), &[]);
    let (big, _) = print_file(&m, &file).await;
    let (small, _) = print_file(&m, &dir.path().join("missing")).await;
    m.store().flush().await.unwrap();
    let pages = |conn: &Connection| -> (i64, i64) {
        let n = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        let free = conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap();
        (n, free)
    };
    let conn = Connection::open(dir.db()).unwrap();
    let (before, _) = pages(&conn);
    assert!(
        before * 4096 > 6_000_000,
        "{before} pages hold 6 MB of noise"
    );
    m.delete(&big).await.unwrap();
    let (after, free) = pages(&conn);
    assert!(
        after * 4 < before,
        "{before} pages before the delete, {after} after"
    );
    assert!(free <= 256, "{free} free pages left");
    assert!(m.get(&small).is_ok());
    m.shutdown().await;
    drop(conn);
    let len = std::fs::metadata(dir.db()).unwrap().len();
    assert!(
        len < 2_000_000,
        "the file is {len} bytes after the final checkpoint"
    );
}

/// Sets a session's end time `days` ago, as if it had ended then.
fn age(db: &Path, id: &str, days: i64) {
    let conn = Connection::open(db).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let n = conn
        .execute(
            "UPDATE sessions SET ended_at = ?1 WHERE id = ?2",
            rusqlite::params![now - days * 86400, id],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_sessions_that_ended_long_ago_with_their_output() {
    let dir = TempDir::new("retention");
    let m = engine(&dir.db(), &[]);
    let mut ids = Vec::new();
    for word in ["old", "recent", "running"] {
        let cmd = if word == "running" {
            "echo running; exec sleep 600".to_owned()
        } else {
            format!("echo {word}")
        };
        let info = m.create(command(&cmd)).await.unwrap();
        if word != "running" {
            wait_exit(&m, info.id.as_str()).await;
        }
        ids.push(info.id.as_str().to_owned());
    }
    m.shutdown().await; // the running one is stopped with the service: it ended just now
    age(dir.db().as_path(), &ids[0], 31);
    age(dir.db().as_path(), &ids[1], 29);

    // Retention off: the restart keeps everything; a sweep at 30 days takes the old one only.
    let m = engine(&dir.db(), &["--retention", "0"]);
    assert_eq!(m.list(None).len(), 3);
    let keep = Duration::from_secs(30 * 86400);
    assert_eq!(m.delete_expired(keep).await, 1);
    assert!(m.get(&ids[0]).is_err());
    assert!(m.get(&ids[1]).is_ok() && m.get(&ids[2]).is_ok());
    let conn = Connection::open(dir.db()).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM output JOIN sessions ON output.session = sessions.seq
             WHERE sessions.id = ?1",
            [&ids[0]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
    let sessions: i64 = conn
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 2, "the record is gone from the file too");
    m.shutdown().await;

    // With the default (30 days) the service sweeps at start by itself.
    age(dir.db().as_path(), &ids[1], 45);
    let m = engine(&dir.db(), &[]);
    let present = async || m.get(&ids[1]).is_ok();
    poll_until_async(TIMEOUT, "swept at start", present, |p| !p).await;
    assert!(m.get(&ids[2]).is_ok(), "a session that just ended stays");
    m.shutdown().await;
}

/// Descriptors of this process open on `path` (the database, its WAL, its shared memory).
fn open_on(path: &Path) -> usize {
    let dir = path.parent().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(dir)))
        .count()
}

/// The retention sweep (and the idle watcher) end with the manager: once it has shut down and
/// been dropped, nothing keeps its database open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_that_shut_down_lets_go_of_its_database() {
    let dir = TempDir::new("release");
    for _ in 0..3 {
        let m = engine(&dir.db(), &["--retention", "1h", "--idle-timeout", "1h"]);
        let info = m.create(command("echo hi")).await.unwrap();
        wait_exit(&m, info.id.as_str()).await;
        assert!(open_on(&dir.db()) > 0);
        m.shutdown().await;
        drop(m);
        let open = async || open_on(&dir.db());
        poll_until_async(TIMEOUT, "no descriptor open on the database", open, |n| {
            *n == 0
        })
        .await;
    }
}
