//! Smoke test of a release binary, possibly of another architecture under emulation:
//! `LANTERM_SMOKE_BIN` names the binary (e.g. dist/lanterm-0.1.0-aarch64-unknown-linux-musl)
//! and `LANTERM_SMOKE_RUNNER` what runs it (e.g. `qemu-aarch64-static`; unset: run it directly).
//! It serves on loopback, answers health, creates a session, reads its output and stops. Without
//! `LANTERM_SMOKE_BIN` the test says it is skipped and passes; scripts/test sets it.

mod common;
#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use common::TempDir;
use common::spawn::{Running, Spawn};
use serde_json::json;
use server::{Events, http};

/// Every wait of this test: emulation is slow, but not this slow.
const DEADLINE: Duration = Duration::from_secs(60);

/// The binary under test and the command line prefix that runs it; `None` when not asked for.
fn under_test() -> Option<Vec<String>> {
    let bin = std::env::var("LANTERM_SMOKE_BIN")
        .ok()
        .filter(|b| !b.is_empty())?;
    let mut argv: Vec<String> = std::env::var("LANTERM_SMOKE_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    argv.push(bin);
    Some(argv)
}

/// `serve` on a loopback port with a database in `dir`, once ready.
fn serve(argv: &[String], dir: &TempDir) -> Running {
    Spawn::argv(argv)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-auth",
            "--allow-root",
        ])
        .args(["--flush-interval", "50ms"])
        .db(&dir.db())
        .deadline(DEADLINE)
        .start()
}

#[test]
fn release_binary_serves_runs_a_session_and_stops() {
    let Some(argv) = under_test() else {
        eprintln!(
            "SKIPPED: set LANTERM_SMOKE_BIN=path/to/lanterm (and LANTERM_SMOKE_RUNNER=qemu-aarch64-static \
             for another architecture) to smoke-test a release binary; scripts/test does"
        );
        return;
    };
    let started = Instant::now();
    let version = Spawn::argv(&argv)
        .arg("--version")
        .deadline(DEADLINE)
        .output();
    let text = String::from_utf8_lossy(&version.stdout);
    assert!(version.status.success(), "{version:?}");
    assert_eq!(
        text.trim(),
        format!("lanterm {}", env!("CARGO_PKG_VERSION"))
    );

    let dir = TempDir::new("smoke");
    let mut service = serve(&argv, &dir);
    let addr = service.addr.clone();
    let health = http(&addr, "GET", "/api/health", &[], b"");
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.json()["status"], "ok");

    let mut events = Events::open_with(&addr, None);
    let body = json!({ "command": "echo smoke $((6 * 7)); uname -s", "cwd": "/" }).to_string();
    let r = http(
        &addr,
        "POST",
        "/api/sessions",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["session"]["id"].as_str().unwrap().to_owned();
    let (_, exited) =
        events.next_where(|name, data| name == "session.exited" && data["id"] == id.as_str());
    assert_eq!(exited["status"], "completed", "{exited}");
    let out = http(
        &addr,
        "GET",
        &format!("/api/sessions/{id}/output"),
        &[],
        b"",
    );
    assert_eq!(out.status, 200);
    let text = out.text();
    assert!(text.contains("smoke 42\r\nLinux\r\n"), "output {text:?}");

    let (status, _) = service.stop();
    assert!(status.success(), "{status:?}: {}", service.log());
    assert!(service.log().contains("stopped cleanly"));
    eprintln!("smoke test of {argv:?} passed in {:?}", started.elapsed());
}
