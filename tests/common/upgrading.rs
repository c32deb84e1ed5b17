//! Helpers of the upgrade tests (`tests/upgrade.rs`, `tests/upgrade_failures.rs`): a copy of
//! the binary that can be replaced, a counter whose output must have no hole and no repeat,
//! and the upgrade itself.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;

use crate::server::{self, Client, Server};

pub const COUNTER: &str = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.01; done";

/// A copy of the binary in `dir`, as `lanterm`.
pub fn install(dir: &Path) -> PathBuf {
    let path = dir.join("lanterm");
    replace(&path, Path::new(server::BIN));
    path
}

/// Replaces `path` with a copy of `from` the way package managers do: a new file renamed over
/// the old one (which a running program keeps using). `cp` writes it: a file this test process
/// had open for writing could be inherited for a moment by a child another test forks, and
/// executing it would then fail with "text file busy".
pub fn replace(path: &Path, from: &Path) {
    let new = path.with_extension("new");
    let cp = std::process::Command::new("cp")
        .arg(from)
        .arg(&new)
        .status();
    assert!(
        cp.unwrap().success(),
        "cp {} {}",
        from.display(),
        new.display()
    );
    std::fs::rename(&new, path).unwrap();
}

/// Replaces `path` with a shell script.
pub fn replace_with_script(path: &Path, script: &str) {
    let text = path.with_extension("txt");
    std::fs::write(&text, script).unwrap();
    std::fs::set_permissions(&text, std::fs::Permissions::from_mode(0o755)).unwrap();
    replace(path, &text);
}

/// The numbers of the complete lines of a counter's output.
pub fn numbers(output: &[u8]) -> Vec<u64> {
    let text = String::from_utf8_lossy(output);
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| {
            l.trim_end_matches('\r')
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {l:?}"))
        })
        .collect()
}

/// Asserts `n` is 0, 1, 2, ... with nothing missing and nothing twice.
pub fn assert_counts(n: &[u64]) {
    for (i, v) in n.iter().enumerate() {
        assert_eq!(
            *v,
            i as u64,
            "line {i} of {}: {:?}",
            n.len(),
            &n[i.saturating_sub(3)..(i + 3).min(n.len())]
        );
    }
}

pub fn exe_of(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// SIGUSR2, then waits for the new program to be ready (its `ready on` line, the `nth`).
pub fn upgrade(s: &Server, nth: usize) {
    s.signal(Signal::SIGUSR2);
    s.wait_log("ready on", nth);
    // Answering means serving, which comes after everything the start sets up.
    assert_eq!(s.get("/api/health").status, 200);
}

/// The session's whole output, downloaded.
pub fn download(s: &Server, sid: &str) -> Vec<u8> {
    let r = s.get(&format!("/api/sessions/{sid}/output?from=0"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.body
}

/// Lets the counter go on for 20 more lines, ends the session and asserts its whole output
/// counts without a hole or a repeat; returns it.
pub async fn stop_and_check(s: &Server, sid: &str) -> Vec<u8> {
    let end = s.session(sid)["output_bytes"].as_u64().unwrap();
    let mut c = Client::attach(&s.addr, sid, &format!("from={end}")).await;
    c.until(|c| c.bytes.iter().filter(|&&b| b == b'\n').count() > 20)
        .await;
    let r = s.send("POST", &format!("/api/sessions/{sid}/stop"), None);
    assert_eq!(r.status, 202, "{}", r.text());
    let info = s.wait_exit(sid);
    assert_eq!(info["status"], "stopped", "{info}");
    assert_eq!(info["exit_signal"], "HUP", "{info}");
    let output = download(s, sid);
    let n = numbers(&output);
    assert_counts(&n);
    output
}
