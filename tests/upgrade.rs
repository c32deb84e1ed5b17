//! Upgrades (SIGUSR2): the service executes its binary again in the same process and keeps its
//! sessions: same server pid, same session pids (still its children), output with no hole and
//! no repeat, attached clients closed with 1001 and resuming by offset. A binary that cannot be
//! executed is refused and nothing stops; an exec that fails resumes everything; a new program
//! that cannot start goes back to the previous binary.
//!
//! Each test runs a copy of the binary from a directory of its own, so it can be replaced.

mod common;
#[path = "common/server.rs"]
mod server;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::contains;
use nix::sys::signal::Signal;
use serde_json::json;
use server::{Client, Server, id};

const COUNTER: &str = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.01; done";

/// A copy of the binary in `dir`, as `lanterm`.
fn install(dir: &Path) -> PathBuf {
    let path = dir.join("lanterm");
    replace(&path, Path::new(server::BIN));
    path
}

/// Replaces `path` with a copy of `from` the way package managers do: a new file renamed over
/// the old one (which a running program keeps using). `cp` writes it: a file this test process
/// had open for writing could be inherited for a moment by a child another test forks, and
/// executing it would then fail with "text file busy".
fn replace(path: &Path, from: &Path) {
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
fn replace_with_script(path: &Path, script: &str) {
    let text = path.with_extension("txt");
    std::fs::write(&text, script).unwrap();
    std::fs::set_permissions(&text, std::fs::Permissions::from_mode(0o755)).unwrap();
    replace(path, &text);
}

/// The numbers of the complete lines of a counter's output.
fn numbers(output: &[u8]) -> Vec<u64> {
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
fn assert_counts(n: &[u64]) {
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

fn exe_of(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// SIGUSR2, then waits for the new program to be ready (its `ready on` line, the `nth`).
fn upgrade(s: &Server, nth: usize) {
    s.signal(Signal::SIGUSR2);
    s.wait_log("ready on", nth);
    // Answering means serving, which comes after everything the start sets up.
    assert_eq!(s.get("/api/health").status, 200);
}

/// The session's whole output, downloaded.
fn download(s: &Server, sid: &str) -> Vec<u8> {
    let r = s.get(&format!("/api/sessions/{sid}/output?from=0"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.body
}

/// Lets the counter go on for 20 more lines, ends the session and asserts its whole output
/// counts without a hole or a repeat; returns it.
async fn stop_and_check(s: &Server, sid: &str) -> Vec<u8> {
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
