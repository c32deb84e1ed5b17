//! A full disk: terminals keep working from memory, the store says it is degraded, and writing
//! resumes (with nothing lost within the pending bound) once there is room again.
//!
//! Uses a real, tiny tmpfs, so it needs root (as in CI); elsewhere it says so and skips.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

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
