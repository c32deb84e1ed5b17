//! Upgrades (SIGUSR2) that go wrong: a binary that cannot be executed is refused and nothing
//! stops; a SIGTERM during the upgrade's check stops cleanly; an exec that fails resumes
//! everything on the same socket; a new program that cannot start goes back to the previous
//! binary.
//!
//! Each test runs a copy of the binary from a directory of its own, so it can be replaced.

mod common;
#[path = "common/server.rs"]
mod server;
#[path = "common/upgrading.rs"]
mod upgrading;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::signal::Signal;
use server::{Client, Server};
use upgrading::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_binary_is_refused_and_nothing_stops() {
    let dir = common::TempDir::new("upgrade");
    let bin = install(dir.path());
    let s = Server::start_binary(&bin, &[]);
    let sid = s.run(COUNTER);
    let pid = s.session(&sid)["pid"].clone();
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    let broken: [(&str, &dyn Fn()); 3] = [
        ("not executable", &|| {
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o644)).unwrap()
        }),
        ("missing", &|| std::fs::remove_file(&bin).unwrap()),
        ("not lanterm", &|| {
            replace_with_script(&bin, "#!/bin/sh\necho hello\n")
        }),
    ];
    for (n, (what, breaks)) in broken.iter().enumerate() {
        breaks();
        let before = numbers(&c.bytes).len();
        s.signal(Signal::SIGUSR2);
        s.wait_log("upgrade refused", n + 1);
        // The attached client was not even disconnected: output keeps coming.
        c.until(|c| numbers(&c.bytes).len() >= before + 20).await;
        assert_eq!(c.close, None, "{what}");
        assert_eq!(s.session(&sid)["pid"], pid, "{what}");
    }
    assert_eq!(s.log().matches("ready on").count(), 1);
    // Once a good binary is back, the upgrade goes through.
    replace(&bin, Path::new(server::BIN));
    s.signal(Signal::SIGUSR2);
    assert_eq!(c.closed().await, Some(1001));
    s.wait_log("ready on", 2);
    assert_eq!(s.session(&sid)["pid"], pid);
    stop_and_check(&s, &sid).await;
}

#[test]
fn sigterm_during_an_upgrade_stops_cleanly() {
    let dir = common::TempDir::new("upgrade");
    let bin = install(dir.path());
    let mut s = Server::start_binary(&bin, &[]);
    let sid = s.run("sleep 600");
    // A binary that takes its time to answer --version: the upgrade is still checking it.
    replace_with_script(&bin, "#!/bin/sh\nexec sleep 29.75\n");
    s.signal(Signal::SIGUSR2);
    s.wait_log("SIGUSR2: upgrading", 1);
    let (status, took) = s.terminate();
    assert!(status.success(), "{status:?}: {}", s.log());
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    let log = s.log();
    assert!(log.contains("upgrade abandoned, shutting down"), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
    // The session was ended as at any stop, and the check's process did not outlive it.
    let db = rusqlite::Connection::open(s.dir.db()).unwrap();
    let status: String = db
        .query_row("SELECT status FROM sessions WHERE id = ?1", [&sid], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "stopped");
    let checker = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 29.75$"])
        .output()
        .unwrap();
    assert!(checker.stdout.is_empty(), "{checker:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_that_fails_resumes_everything_on_the_same_socket() {
    let dir = common::TempDir::new("upgrade");
    let bin = install(dir.path());
    let s = Server::start_binary(&bin, &[]);
    let sid = s.run(COUNTER);
    let pid = s.session(&sid)["pid"].clone();
    // Passes the check, then vanishes before the exec (as in a half-done package upgrade).
    replace_with_script(&bin, "#!/bin/sh\necho 'lanterm 9.9.9'\nrm -f \"$0\"\n");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.read_len(100).await;
    s.signal(Signal::SIGUSR2);
    assert_eq!(c.closed().await, Some(1001), "the handover had begun");
    s.wait_log("upgrade failed: executing", 1);
    assert!(!bin.exists());
    // Same address, same session, output going on from where the client left.
    let mut again = Client::attach(&s.addr, &sid, &format!("from={}", c.bytes.len())).await;
    again.read_len(100).await;
    assert_eq!(again.attached["session"]["pid"], pid);
    assert_eq!(s.log().matches("ready on").count(), 1, "no exec happened");
    replace(&bin, Path::new(server::BIN));
    upgrade(&s, 2);
    assert_eq!(s.session(&sid)["pid"], pid);
    let output = stop_and_check(&s, &sid).await;
    assert!(output.starts_with(&[c.bytes, again.bytes].concat()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_program_that_cannot_start_goes_back_to_the_previous_binary() {
    let dir = common::TempDir::new("upgrade");
    let bin = install(dir.path());
    let s = Server::start_binary(&bin, &[]);
    let server_pid = s.pid().as_raw();
    let sid = s.run(COUNTER);
    let pid = s.session(&sid)["pid"].clone();
    // A "new version" that answers --version but refuses the settings it is started with.
    let real = dir.path().join("real-lanterm");
    replace(&real, Path::new(server::BIN));
    replace_with_script(
        &bin,
        &format!(
            "#!/bin/sh\nexec {} \"$@\" --no-such-setting\n",
            real.display()
        ),
    );
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.read_len(100).await;
    upgrade(&s, 2);
    assert_eq!(c.closed().await, Some(1001), "{:?} {}", c.error, s.log());
    let log = s.log();
    assert!(log.contains("going back to the previous binary"), "{log}");
    eprintln!("{log}");
    assert!(log.contains("took over 1 of 1 running sessions"), "{log}");
    assert!(
        exe_of(server_pid).ends_with(" (deleted)"),
        "the previous binary runs"
    );
    let mut again = Client::attach(&s.addr, &sid, &format!("from={}", c.bytes.len())).await;
    again.read_len(100).await;
    assert_eq!(again.attached["session"]["pid"], pid);
    // The path is still the one to upgrade from: a good binary there is taken.
    replace(&bin, Path::new(server::BIN));
    upgrade(&s, 3);
    assert_eq!(exe_of(server_pid), bin.to_string_lossy());
    let output = stop_and_check(&s, &sid).await;
    assert!(output.starts_with(&c.bytes));
}
