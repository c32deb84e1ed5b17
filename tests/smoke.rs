//! Smoke test of a release binary, possibly of another architecture under emulation:
//! `LANTERM_SMOKE_BIN` names the binary (e.g. dist/lanterm-0.1.0-aarch64-unknown-linux-musl)
//! and `LANTERM_SMOKE_RUNNER` what runs it (e.g. `qemu-aarch64-static`; unset: run it directly).
//! It serves on loopback, answers health, creates a session, reads its output and stops. Without
//! `LANTERM_SMOKE_BIN` the test says it is skipped and passes; scripts/test sets it.

mod common;
#[path = "common/server.rs"]
mod server;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TempDir;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
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

fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear().env("HOME", "/root");
    cmd
}

/// The `127.0.0.1:PORT` of the `... ready on http://127.0.0.1:PORT: ...` log line.
fn ready_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("ready on http://")? + "ready on http://".len()..];
    Some(rest[..rest.find(": ")?].to_owned())
}

/// Starts `serve` and waits for its ready line; the child, its address and its log so far.
fn serve(argv: &[String], dir: &TempDir) -> (Child, String, Arc<Mutex<String>>) {
    let mut child = command(argv)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-auth",
            "--allow-root",
        ])
        .args(["--flush-interval", "50ms", "--db"])
        .arg(dir.db())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = ready_addr(&line)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr);
            }
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(addr) => (child, addr, log),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{argv:?} serve not ready ({e}): {}", log.lock().unwrap());
        }
    }
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
    let version = command(&argv).arg("--version").output().expect("--version");
    let text = String::from_utf8_lossy(&version.stdout);
    assert!(version.status.success(), "{version:?}");
    assert_eq!(
        text.trim(),
        format!("lanterm {}", env!("CARGO_PKG_VERSION"))
    );

    let dir = TempDir::new("smoke");
    let (mut child, addr, log) = serve(&argv, &dir);
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

    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("no exit after SIGTERM: {}", log.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20)); // another process's exit: no event
    };
    assert!(status.success(), "{status:?}: {}", log.lock().unwrap());
    assert!(log.lock().unwrap().contains("stopped cleanly"));
    eprintln!("smoke test of {argv:?} passed in {:?}", started.elapsed());
}
