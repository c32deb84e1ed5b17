//! Out of file descriptors: creating a session answers `503 unavailable` (the service's
//! trouble, not a bad request), and the accept loop, failing ten times a second, logs it once
//! rather than each time (every line is a write to the SD card).

mod common;
#[path = "common/server.rs"]
mod server;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use server::Server;

/// The lowest descriptor number the process has free: under a limit of this, it has none.
fn lowest_free_fd(pid: i32) -> u64 {
    let used: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !used.contains(n)).unwrap()
}

/// Sets the process's (soft) descriptor limit with `prlimit`.
fn limit_fds(pid: i32, n: u64) {
    let ok = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={n}:")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "prlimit failed");
}

#[test]
fn out_of_descriptors_a_create_is_503_and_accept_failures_are_logged_once() {
    let s = Server::start(&[]);
    let pid = s.pid().as_raw();
    // Room for the request's connection and not much more: the terminal cannot be opened.
    limit_fds(pid, lowest_free_fd(pid) + 2);
    let r = s.send(
        "POST",
        "/api/sessions",
        Some(json!({ "command": "true", "cwd": "/" })),
    );
    r.assert_error(503, "unavailable");
    // No room at all: connections wait in the kernel's queue while accept fails.
    limit_fds(pid, lowest_free_fd(pid));
    let waiting = std::net::TcpStream::connect(&s.addr).unwrap();
    s.wait_log("accept failed", 1);
    std::thread::sleep(Duration::from_secs(1)); // the window in which it keeps failing
    limit_fds(pid, 1024);
    drop(waiting);
    assert_eq!(s.get("/api/health").status, 200);
    assert_eq!(s.log().matches("accept failed").count(), 1, "{}", s.log());
}
