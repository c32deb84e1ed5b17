//! A full disk: terminals keep working from memory, the store says it is degraded, and writing
//! resumes (with nothing lost within the pending bound) once there is room again.
//!
//! Uses a real, tiny tmpfs, so it needs root (as in CI); elsewhere it says so and skips.

mod common;
#[path = "common/server.rs"]
mod server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(dir.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system with one file until it refuses more.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let block = [0u8; 4096];
    let mut written = 0;
    while f.write_all(&block).is_ok() {
        written += block.len() as u64;
    }
    written
}

async fn wait_health(m: &lanterm::engine::Manager, ok: bool) -> lanterm::store::Health {
    // The store has no event for this yet: polled with a deadline.
    let what = format!("store health ok={ok}");
    poll_until_async(TIMEOUT, &what, async || m.health(), |h| h.ok == ok).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_degrades_then_recovers_without_losing_output() {
    let dir = TempDir::new("full");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let Some(_mount) = Mount::tmpfs(&mnt, "2m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let m = engine(&mnt.join("lanterm.db"), &[]);
    let filler = mnt.join("filler");
    assert!(fill(&filler) > 0);

    // 300 KB of output while nothing can be written; the terminal itself keeps answering.
    let info = m
        .create(command(
            "stty raw -echo; head -c 300000 /dev/zero | tr '\\0' z; echo; echo done; read x; echo \"again-$x\"",
        ))
        .await
        .expect("sessions start while the disk is full");
    let id = info.id.as_str();
    let session = m.session(id).unwrap();
    let mut tail = session.watch();
    tokio::time::timeout(TIMEOUT, tail.wait_for(|t| t.end >= 300_000))
        .await
        .expect("output flows while the disk is full")
        .unwrap();
    // The newest output is served from memory (older bytes wait in the writer, unreadable
    // until they are committed: the store is degraded, after all).
    read_until(&m, &session, 290_000, |o| contains(o, "done")).await;
    let degraded = wait_health(&m, false).await;
    assert!(degraded.last_error.is_some());
    m.input(id, b"ok\n").await.unwrap(); // raw mode: no CR-to-NL translation
    read_until(&m, &session, 290_000, |o| contains(o, "again-ok")).await;

    // Room again: the writer retries by itself and stores everything it kept.
    std::fs::remove_file(&filler).unwrap();
    wait_health(&m, true).await;
    let end = wait_exit(&m, id).await;
    m.store().flush().await.unwrap();
    let stored = m.store().read_output(end.seq, 0, 1 << 20).await.unwrap();
    assert_eq!(stored.start, 0);
    assert_eq!(stored.data.len() as u64, end.output_bytes);
    assert!(stored.data[..300_000].iter().all(|&b| b == b'z'));
    assert_eq!(m.health().dropped_bytes, 0);
    m.shutdown().await;
}

/// Fills the file system with files of `size` bytes (the last one short) until it refuses
/// more; returns them, so that some can be freed.
fn fill_files(dir: &Path, size: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let block = vec![0u8; 4096];
    for n in 0.. {
        let path = dir.join(format!("filler-{n}"));
        let mut f = std::fs::File::create(&path).unwrap();
        let mut written = 0;
        while written < size {
            if f.write_all(&block).is_err() {
                files.push(path);
                return files;
            }
            written += block.len();
        }
        files.push(path);
    }
    files
}

/// The statuses the file itself holds for these sessions (read-only, beside the engine).
fn statuses_in_file(db: &Path, ids: &[&str]) -> Vec<Option<String>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    ids.iter()
        .map(|id| {
            conn.query_row("SELECT status FROM sessions WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_created_and_stopped_on_a_full_disk_are_recorded() {
    let dir = TempDir::new("full-records");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let Some(_mount) = Mount::tmpfs(&mnt, "2m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let db = mnt.join("lanterm.db");
    let m = engine(&db, &[]);
    let before = m.create(command("exec sleep 600")).await.unwrap();
    m.store().flush().await.unwrap();
    assert!(fill(&mnt.join("filler")) > 0);
    // Created with the disk full: its record still reaches the file (a crash now would show
    // it `lost`, not forget it).
    let during = m.create(command("exec sleep 600")).await.unwrap();
    let ids = [before.id.as_str(), during.id.as_str()];
    let deadline = std::time::Instant::now() + TIMEOUT;
    while statuses_in_file(&db, &ids)[1].is_none() {
        assert!(std::time::Instant::now() < deadline, "never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await; // the writer's thread: no event
    }
    // A stop with the disk still full: both come back `stopped`, not `lost`.
    m.shutdown().await;
    let statuses = statuses_in_file(&db, &ids);
    assert_eq!(
        statuses,
        [Some("stopped".to_owned()), Some("stopped".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeing_600_kib_is_enough_to_recover_keeping_the_newest_output() {
    let dir = TempDir::new("full-recover");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let Some(_mount) = Mount::tmpfs(&mnt, "2m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let db = mnt.join("lanterm.db");
    let m = engine(&db, &["--compress=off"]);
    let fillers = fill_files(&mnt, 60 * 1024);
    // Two sessions print 900 KB each with nothing written: over what 600 KiB can take.
    let mut ids = Vec::new();
    for c in ['a', 'b'] {
        let cmd = format!(
            "stty raw -echo; head -c 900000 /dev/zero | tr '\\0' {c}; echo; echo done-{c}; exec sleep 600"
        );
        ids.push(m.create(command(&cmd)).await.unwrap().id);
    }
    for id in &ids {
        let session = m.session(id.as_str()).unwrap();
        let mut tail = session.watch();
        tokio::time::timeout(TIMEOUT, tail.wait_for(|t| t.end >= 900_000))
            .await
            .expect("output flows while the disk is full")
            .unwrap();
        read_until(&m, &session, 899_000, |o| contains(o, "done-")).await;
    }
    wait_health(&m, false).await;
    let late = m.create(command("exec sleep 600")).await.unwrap();

    for f in fillers.iter().take(10) {
        std::fs::remove_file(f).unwrap();
    }
    let h = wait_health(&m, true).await;
    assert!(h.dropped_bytes > 0, "the oldest output had to go: {h:?}");
    assert_eq!(
        statuses_in_file(&db, &[late.id.as_str()]),
        [Some("running".into())]
    );
    for (id, c) in ids.iter().zip(['a', 'b']) {
        // What the session says it has is what can be read: from `history_start` on, the
        // stored bytes (the newest), then the end.
        let info = m.get(id.as_str()).unwrap();
        assert!(info.history_start > 0, "{info:?}");
        let session = m.session(id.as_str()).unwrap();
        let out = read_until(&m, &session, info.history_start, |o| {
            contains(o, &format!("done-{c}"))
        })
        .await;
        assert!(
            out[..out.len() - 12]
                .iter()
                .all(|&b| b == c as u8 || b == b'\r' || b == b'\n')
        );
    }
    m.shutdown().await;
}

/// Waits until `/api/health` answers `status`.
fn wait_http_health(s: &server::Server, status: u16) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while s.get("/api/health").status != status {
        assert!(
            std::time::Instant::now() < deadline,
            "health never {status}"
        );
        std::thread::sleep(Duration::from_millis(20)); // the writer's state: no event
    }
}

#[test]
fn a_download_says_where_stored_output_has_a_hole() {
    let dir = TempDir::new("full-download");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let Some(_mount) = Mount::tmpfs(&mnt, "2m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let db = mnt.join("lanterm.db");
    let db_flag = db.display().to_string();
    let s = server::Server::start(&["--db", &db_flag, "--compress=off"]);
    let sid = s.run(
        "stty raw -echo; echo early-output; read x; head -c 900000 /dev/zero | tr '\\0' z; \
         echo; echo late-done; exec sleep 600",
    );
    let deadline = std::time::Instant::now() + TIMEOUT;
    while s.session(&sid)["output_bytes"] == 0
        || s.get("/api/health").json()["database"]["pending_bytes"] != 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "early output never stored"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let early = s.session(&sid)["output_bytes"].as_u64().unwrap();
    let fillers = fill_files(&mnt, 60 * 1024);
    let input = serde_json::json!({ "data": "go\n" });
    assert_eq!(
        s.send("POST", &format!("/api/sessions/{sid}/input"), Some(input))
            .status,
        204
    );
    wait_http_health(&s, 503);
    for f in fillers.iter().take(10) {
        std::fs::remove_file(f).unwrap();
    }
    wait_http_health(&s, 200);

    // From the start: the early output, and where readable output resumes after the hole.
    let r = s.get(&format!("/api/sessions/{sid}/output?from=0"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-output-start"), Some("0"));
    assert_eq!(r.header("x-output-end"), Some(early.to_string().as_str()));
    assert_eq!(r.body, b"early-output\n");
    let next: u64 = r
        .header("x-output-next")
        .expect("where output resumes")
        .parse()
        .unwrap();
    assert!(next > early);
    // From there: all of it, up to the end, as the headers say.
    let r = s.get(&format!("/api/sessions/{sid}/output?from={next}"));
    let end: u64 = r.header("x-output-end").unwrap().parse().unwrap();
    assert_eq!(r.header("x-output-start"), Some(next.to_string().as_str()));
    assert_eq!(r.body.len() as u64, end - next);
    assert!(r.header("x-output-next").is_none());
    assert!(contains(&r.body, "late-done"), "{}", r.text());
}
