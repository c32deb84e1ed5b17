//! Upgrades (SIGUSR2): the service executes its binary again in the same process and keeps its
//! sessions: same server pid, same session pids (still its children), output with no hole and
//! no repeat, attached clients closed with 1001 and resuming by offset. (Upgrades that go wrong:
//! `tests/upgrade_failures.rs`.)
//!
//! Each test runs a copy of the binary from a directory of its own, so it can be replaced.

mod common;
#[path = "common/server.rs"]
mod server;
#[path = "common/upgrading.rs"]
mod upgrading;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::contains;
use nix::sys::signal::Signal;
use serde_json::json;
use server::{Client, Server, id};
use upgrading::*;

fn proc_field(pid: i32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

/// The server's start time (clock ticks since boot): an exec keeps it, a new process would not.
fn start_time(pid: i32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_keeps_its_pid_and_every_line_across_two_upgrades() {
    let dir = common::TempDir::new("upgrade");
    let s = Server::start_binary(&install(dir.path()), &[]);
    let server_pid = s.pid().as_raw();
    let started = start_time(server_pid);
    let sid = s.run(COUNTER);
    let pid = s.session(&sid)["pid"].as_i64().unwrap() as i32;
    let mut seen = Vec::new();
    for round in 1..=2 {
        let mut c = Client::attach(&s.addr, &sid, &format!("from={}", seen.len())).await;
        assert_eq!(c.offset(), seen.len() as u64);
        let want = numbers(&seen).len() + 30;
        c.until(|c| numbers(&[&seen[..], &c.bytes[..]].concat()).len() >= want)
            .await;
        let mut events = server::Events::open_with(&s.addr, None);
        s.signal(Signal::SIGUSR2);
        assert_eq!(c.closed().await, Some(1001), "round {round}");
        assert!(events.ends(), "the event stream ends");
        s.wait_log("ready on", round + 1);
        seen.extend_from_slice(&c.bytes);
        assert_eq!(s.pid().as_raw(), server_pid);
        assert_eq!(start_time(server_pid), started, "the same process");
        let info = s.session(&sid);
        assert_eq!(info["status"], "running", "{info}");
        assert_eq!(info["pid"], pid, "{info}");
        assert_eq!(
            proc_field(pid, "PPid"),
            server_pid.to_string(),
            "still our child"
        );
    }
    // The last client resumes at its offset, and what the clients saw is what was stored.
    let mut c = Client::attach(&s.addr, &sid, &format!("from={}", seen.len())).await;
    let want = numbers(&seen).len() + 30;
    c.until(|c| numbers(&[&seen[..], &c.bytes[..]].concat()).len() >= want)
        .await;
    seen.extend_from_slice(&c.bytes);
    let output = stop_and_check(&s, &sid).await;
    assert!(output.starts_with(&seen), "the clients saw what was stored");
    assert!(s.log().contains("took over 1 of 1 running sessions"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_replaced_on_disk_is_the_one_executed() {
    let dir = common::TempDir::new("upgrade");
    let bin = install(dir.path());
    let s = Server::start_binary(&bin, &[]);
    let server_pid = s.pid().as_raw();
    let sid = s.run(COUNTER);
    replace(&bin, Path::new(server::BIN));
    assert!(
        exe_of(server_pid).ends_with(" (deleted)"),
        "{}",
        exe_of(server_pid)
    );
    upgrade(&s, 2);
    assert_eq!(exe_of(server_pid), bin.to_string_lossy());
    let new = std::fs::metadata(&bin).unwrap().ino();
    let running = std::fs::metadata(format!("/proc/{server_pid}/exe"))
        .unwrap()
        .ino();
    assert_eq!(running, new, "the new file runs");
    // And again, from the new program.
    replace(&bin, Path::new(server::BIN));
    upgrade(&s, 3);
    assert_eq!(exe_of(server_pid), bin.to_string_lossy());
    assert_eq!(s.session(&sid)["status"], "running");
    stop_and_check(&s, &sid).await;
}

#[test]
fn a_symlink_it_was_started_through_is_followed_anew() {
    let dir = common::TempDir::new("upgrade");
    let versions: Vec<PathBuf> = ["v1", "v2"]
        .iter()
        .map(|v| {
            let d = dir.path().join(v);
            std::fs::create_dir(&d).unwrap();
            install(&d)
        })
        .collect();
    let link = dir.path().join("lanterm");
    std::os::unix::fs::symlink(&versions[0], &link).unwrap();
    let s = Server::start_binary(&link, &[]);
    let pid = s.pid().as_raw();
    assert_eq!(exe_of(pid), versions[0].to_string_lossy());
    let new = dir.path().join("lanterm.new");
    std::os::unix::fs::symlink(&versions[1], &new).unwrap();
    std::fs::rename(&new, &link).unwrap();
    upgrade(&s, 2);
    assert_eq!(exe_of(pid), versions[1].to_string_lossy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_shell_answers_after_an_upgrade() {
    let dir = common::TempDir::new("upgrade");
    let s = Server::start_binary(&install(dir.path()), &[]);
    let sid = id(&s.create(json!({
        "command": "exec bash --norc --noprofile -i",
        "cwd": "/",
        "env": {"PS1": "$ "}
    })));
    let pid = s.session(&sid)["pid"].clone();
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.send_bytes(b"echo before-$((6*7))\r").await;
    c.read_contains("before-42").await;
    upgrade(&s, 2);
    assert_eq!(c.closed().await, Some(1001));
    let mut again = Client::attach(&s.addr, &sid, &format!("from={}", c.bytes.len())).await;
    again.send_bytes(b"echo after-$((7*7))\r").await;
    again.read_contains("after-49").await;
    assert_eq!(again.attached["session"]["pid"], pid);
    assert!(!contains(&again.bytes, "before-42"), "nothing shown twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_loses_nothing_across_upgrades() {
    let dir = common::TempDir::new("upgrade");
    let s = Server::start_binary(&install(dir.path()), &["--history-bytes", "64MiB"]);
    let sid = s.run("stty raw -echo; i=0; while :; do echo $i; i=$((i+1)); done");
    for n in 2..=4 {
        let end = s.session(&sid)["output_bytes"].as_u64().unwrap();
        let mut c = Client::attach(&s.addr, &sid, &format!("from={end}")).await;
        c.read_len(100_000).await;
        upgrade(&s, n);
    }
    let r = s.send("POST", &format!("/api/sessions/{sid}/stop"), None);
    assert_eq!(r.status, 202, "{}", r.text());
    s.wait_exit(&sid);
    let output = download(&s, &sid);
    assert!(output.len() > 300_000, "{} bytes", output.len());
    let n = numbers(&output);
    assert_counts(&n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_process_reports_how_it_ended() {
    let dir = common::TempDir::new("upgrade");
    let s = Server::start_binary(&install(dir.path()), &[]);
    let sid = s.run("read x; exit 7");
    let killed = s.run("sleep 600");
    upgrade(&s, 2);
    let mut c = Client::attach(&s.addr, &sid, "").await;
    c.send_bytes(b"go\r").await;
    let info = s.wait_exit(&sid);
    assert_eq!(info["status"], "failed", "{info}");
    assert_eq!(info["exit_code"], 7, "{info}");
    let pid = s.session(&killed)["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let info = s.wait_exit(&killed);
    assert_eq!(info["status"], "failed", "{info}");
    assert_eq!(info["exit_signal"], "KILL", "{info}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "reaped, not a zombie"
    );
}

/// What the server's descriptors point to (`/dev/ptmx`, `socket:[123]`, a path...).
fn descriptors(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        // One that closes meanwhile (a connection ending) has nothing to read.
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn descriptors_do_not_pile_up_over_upgrades() {
    let dir = common::TempDir::new("upgrade");
    let s = Server::start_binary(&install(dir.path()), &[]);
    let pid = s.pid().as_raw();
    let sids: Vec<String> = (0..3).map(|_| s.run("sleep 600")).collect();
    upgrade(&s, 2);
    // The integrity check after each start opens a connection of its own.
    s.wait_log("quick_check found nothing wrong", 2);
    let one = descriptors(pid);
    for n in 3..=7 {
        upgrade(&s, n);
    }
    s.wait_log("quick_check found nothing wrong", 7);
    let many = descriptors(pid);
    let count = |l: &[String], f: &dyn Fn(&str) -> bool| l.iter().filter(|t| f(t)).count();
    for l in [&one, &many] {
        assert_eq!(
            count(l, &|t| t == "/dev/ptmx"),
            3,
            "one master per session: {l:?}"
        );
        assert_eq!(
            count(l, &|t| t.contains("memfd:")),
            0,
            "no handover left: {l:?}"
        );
        assert_eq!(count(l, &|t| t.contains("lanterm (deleted)")), 0, "{l:?}");
        assert_eq!(
            count(l, &|t| t.ends_with("/lanterm")),
            0,
            "no binary kept: {l:?}"
        );
    }
    // The listening socket is the one socket that outlives every exec: serving, and its copy
    // kept for the next upgrade.
    let kept: Vec<&String> = one
        .iter()
        .filter(|t| t.starts_with("socket:") && many.contains(t))
        .collect();
    assert!(!kept.is_empty(), "{one:?} {many:?}");
    for t in kept {
        assert_eq!(count(&one, &|x| x == t.as_str()), 2, "{t}: {one:?}");
        assert_eq!(count(&many, &|x| x == t.as_str()), 2, "{t}: {many:?}");
    }
    let db = |l: &[String]| count(l, &|t| t.contains("lanterm.db"));
    assert_eq!(db(&one), db(&many));
    for sid in &sids {
        assert_eq!(s.session(sid)["status"], "running");
    }
    assert!(s.log().contains("took over 3 of 3 running sessions"));
}

/// A SIGTERM that comes 0-10 ms after SIGUSR2 (while the upgrade checks the binary, stops the
/// API, or executes the new program) always stops the service: one that arrives during the
/// exec waits, pending, for the new program. 100 trials, each a small service of its own.
#[test]
fn sigterm_right_after_sigusr2_always_stops_the_service() {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let started = std::time::Instant::now();
    for trial in 0..100 {
        let mut s = Server::start(&[]);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = std::time::Duration::from_micros(seed % 10_000);
        s.signal(Signal::SIGUSR2);
        std::thread::sleep(delay); // the experiment: a stop at a random moment of the upgrade
        let (status, took) = s.terminate();
        assert!(
            status.success() && took < common::TIMEOUT,
            "trial {trial}, SIGTERM {delay:?} after SIGUSR2: {status:?} after {took:?}\n{}",
            s.log()
        );
    }
    eprintln!("100 trials in {:?}", started.elapsed());
}
