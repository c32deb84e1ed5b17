//! The state a session's process starts in does not depend on the state the service was started
//! in: a service started with signals ignored (as `nohup`, or a shell's `trap "" QUIT`, leave
//! it) still gives every session every signal at its default action, and none blocked.

mod common;
#[path = "common/server.rs"]
mod server;

use std::os::unix::fs::PermissionsExt;

use common::TempDir;
use serde_json::json;
use server::{BIN, Server, id};

/// The mask on the `/proc/PID/status` line starting with `field` (e.g. `SigIgn:`).
fn mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status:?}"));
    let hex = line[field.len()..].trim();
    u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// The bit of `signal` in a `/proc` signal mask.
fn bit(signal: nix::sys::signal::Signal) -> u64 {
    1 << (signal as i32 - 1)
}

#[test]
fn sessions_start_with_default_signal_actions_even_when_the_service_ignores_some() {
    use nix::sys::signal::Signal::{SIGQUIT, SIGTSTP};
    let dir = TempDir::new("signals");
    let wrapper = dir.path().join("lanterm-with-signals-ignored");
    // The shell ignores QUIT, INT and TSTP, and the service inherits that through its exec.
    let script = format!("#!/bin/sh\ntrap '' QUIT INT TSTP\nexec '{BIN}' \"$@\"\n");
    std::fs::write(&wrapper, script).expect("write the wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let s = Server::start_binary(&wrapper, &[]);
    let service = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).expect("status");
    let ignored = bit(SIGQUIT) | bit(SIGTSTP);
    assert_eq!(
        mask(&service, "SigIgn:") & ignored,
        ignored,
        "the service itself runs with QUIT and TSTP ignored: {service}"
    );

    let session = s.create(json!({
        "command": "grep -E '^Sig(Ign|Blk):' /proc/self/status",
        "cwd": "/",
    }));
    let sid = id(&session);
    assert_eq!(s.wait_exit(&sid)["exit_code"], 0);
    let out = s
        .get(&format!("/api/sessions/{sid}/output?format=text"))
        .text();
    assert_eq!(mask(&out, "SigIgn:"), 0, "no signal ignored: {out:?}");
    assert_eq!(mask(&out, "SigBlk:"), 0, "no signal blocked: {out:?}");

    // Ctrl-\ at a session's prompt reaches its program again: `cat` ends by SIGQUIT.
    let cat = s.create(json!({"command": "exec cat", "cwd": "/"}));
    let cid = id(&cat);
    s.send(
        "POST",
        &format!("/api/sessions/{cid}/input"),
        Some(json!({"data": "\u{1c}"})),
    );
    assert_eq!(s.wait_exit(&cid)["exit_signal"], "QUIT");
}
