//! Resource hygiene: sessions that come and go leave no descriptor and no zombie behind.
//! Alone in its binary, so no other test's descriptors or children are counted.

mod common;

use common::*;

/// Open descriptors, by number, with what each points to.
fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    fds.sort();
    fds
}

fn zombie_children() -> Vec<i32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
                let f: Vec<&str> = rest.split_whitespace().collect();
                f.first() == Some(&"Z") && f.get(1) == Some(&me.as_str())
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sessions_leak_no_fd_and_leave_no_zombie() {
    let dir = TempDir::new("leak");
    let m = engine(&dir.db(), &[]);
    // Warm up: the runtime's and SQLite's own descriptors exist from here on.
    let warm = m.create(command("echo warm")).await.unwrap();
    wait_exit(&m, warm.id.as_str()).await;
    let fds_before = open_fds();
    for i in 0..200 {
        let cmd = if i % 2 == 0 { "echo $$" } else { "sleep 100" };
        let info = m.create(command(cmd)).await.unwrap();
        if i % 2 == 1 {
            m.stop(info.id.as_str(), None).unwrap();
        }
        let end = wait_exit(&m, info.id.as_str()).await;
        assert!(!end.status.is_running());
        if i % 4 == 0 {
            m.delete(info.id.as_str()).await.unwrap();
        }
    }
    m.store().flush().await.unwrap();
    // Threads open files for a moment (the store reads /proc/thread-self/io after a commit), so
    // a leak is a descriptor that stays: wait for the set to settle back, with a deadline.
    let what = format!("descriptors back to {fds_before:?} (else leaked)");
    poll_until_async(
        TIMEOUT,
        &what,
        async || open_fds(),
        |fds| *fds == fds_before,
    )
    .await;
    assert_eq!(zombie_children(), Vec::<i32>::new(), "zombies left");
    assert_eq!(m.list(None).len(), 1 + 200 - 50);
}
