//! The session engine's output caps end to end: the per-session history cap, the gap where
//! memory still holds the output, and the global cap over all sessions (across a restart too).

mod common;

use common::*;
use lanterm::engine::Chunk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_cap_keeps_only_the_newest_output() {
    let dir = TempDir::new("cap");
    // The cap is trimmed by whole stored chunks (of at most 64 KiB of output), so what stays is
    // between the cap less one chunk and the cap, wherever the commits happened to cut it.
    const CAP: u64 = 256 * 1024;
    const CHUNK_MAX: u64 = 64 * 1024;
    let m = engine(&dir.db(), &["--history-bytes", "256KiB"]);
    let info = m
        .create(command(
            "stty raw -echo; head -c 1000000 /dev/zero | tr '\\0' x",
        ))
        .await
        .unwrap();
    let end = wait_exit(&m, info.id.as_str()).await;
    assert_eq!(end.output_bytes, 1_000_000);
    m.store().flush().await.unwrap();
    let end = m.get(info.id.as_str()).unwrap();
    assert!(
        end.history_start >= 1_000_000 - CAP,
        "history_start {} keeps more than the cap",
        end.history_start
    );
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    // The cap counts output bytes, whatever they take compressed.
    let stored: i64 = conn
        .query_row(
            "SELECT SUM(COALESCE(raw_len, length(data))) FROM output",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored as u64 <= CAP, "stored {stored} bytes, cap is {CAP}");
    assert!(
        stored as u64 > CAP - CHUNK_MAX,
        "stored only {stored} bytes"
    );
    // Reading from the start says what is gone, then serves the rest.
    let session = m.session(info.id.as_str()).unwrap();
    match session.read_at(m.store(), 0, 1024).await.unwrap() {
        Chunk::Gap { from: 0, to } => assert_eq!(to, end.history_start),
        other => panic!("expected a gap, got {other:?}"),
    }
    let tail = read_until(&m, &session, end.history_start, |_| false).await;
    assert_eq!(tail.len() as u64, 1_000_000 - end.history_start);
    assert!(tail.iter().all(|&b| b == b'x'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_ends_where_memory_still_holds_the_output() {
    // The store trims in whole 64 KiB chunks, so right after a burst it may keep less than the
    // ring does: a reader from 0 must meet a gap that ends at the ring's oldest byte, then get
    // everything from there, not jump to where the store's chunks start.
    let dir = TempDir::new("gap-ring");
    // Commits every 48 KiB: the chunk holding the trim point starts before it and goes, so the
    // store keeps less than the ring.
    let flags = [
        "--history-bytes",
        "64KiB",
        "--flush-interval",
        "1h",
        "--flush-bytes",
        "48KiB",
    ];
    let m = engine(&dir.db(), &flags);
    let info = m
        .create(command(
            "stty raw -echo; head -c 200000 /dev/zero | tr '\\0' g; sleep 100",
        ))
        .await
        .unwrap();
    let session = m.session(info.id.as_str()).unwrap();
    let mut tail = session.watch();
    tokio::time::timeout(TIMEOUT, tail.wait_for(|t| t.end >= 200_000))
        .await
        .unwrap()
        .unwrap();
    m.store().flush().await.unwrap();
    let oldest = 200_000 - lanterm::engine::RING_CAPACITY as u64;
    assert_eq!(m.get(info.id.as_str()).unwrap().history_start, oldest);
    match session.read_at(m.store(), 0, 1024).await.unwrap() {
        Chunk::Gap { from: 0, to } => assert_eq!(to, oldest, "the gap skips bytes memory holds"),
        other => panic!("expected a gap, got {other:?}"),
    }
    let rest = read_until(&m, &session, oldest, |o| o.len() as u64 >= 200_000 - oldest).await;
    assert!(rest.iter().all(|&b| b == b'g'));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_cap_bounds_all_sessions_together() {
    let dir = TempDir::new("global");
    let m = engine(&dir.db(), &["--store-max-bytes", "1MiB", "--compress=off"]);
    for _ in 0..3 {
        let info = m
            .create(command(
                "stty raw -echo; head -c 700000 /dev/zero | tr '\\0' y",
            ))
            .await
            .unwrap();
        wait_exit(&m, info.id.as_str()).await;
    }
    m.store().flush().await.unwrap();
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let stored: i64 = conn
        .query_row("SELECT SUM(length(data)) FROM output", [], |r| r.get(0))
        .unwrap();
    assert!(stored <= 1 << 20, "stored {stored} bytes, cap is 1 MiB");
    // The newest session kept all of its output; the oldest lost the most.
    let list = m.list(None);
    assert_eq!(list[0].history_start, 0);
    assert!(list[2].history_start > 0);
}

/// The global cap counts what earlier runs stored (measured by the writer when it starts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_cap_counts_output_stored_before_a_restart() {
    let dir = TempDir::new("global-restart");
    let flood = "stty raw -echo; head -c 700000 /dev/zero | tr '\\0' y";
    let m = engine(&dir.db(), &["--store-max-bytes", "1MiB", "--compress=off"]);
    let first = m.create(command(flood)).await.unwrap();
    wait_exit(&m, first.id.as_str()).await;
    m.shutdown().await;
    let m = engine(&dir.db(), &["--store-max-bytes", "1MiB", "--compress=off"]);
    let second = m.create(command(flood)).await.unwrap();
    wait_exit(&m, second.id.as_str()).await;
    m.store().flush().await.unwrap();
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let stored: i64 = conn
        .query_row("SELECT SUM(length(data)) FROM output", [], |r| r.get(0))
        .unwrap();
    assert!(stored <= 1 << 20, "stored {stored} bytes, cap is 1 MiB");
    assert!(m.get(first.id.as_str()).unwrap().history_start > 0);
    assert_eq!(m.get(second.id.as_str()).unwrap().history_start, 0);
    m.shutdown().await;
}
