//! What a program prints as its session ends is kept, even when the service could not look at
//! the terminal in time: a board busy with something else, or the service paused (`SIGSTOP`)
//! just as the session's process exited; and a job left writing to the terminal cannot keep
//! its session running. Black-box, with the real binary.

mod common;
#[path = "common/server.rs"]
mod server;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TIMEOUT;
use nix::sys::signal::Signal;
use serde_json::json;
use server::{Server, id};

/// How many sessions are caught in one pause. Before the fix each lost its last output with
/// even odds; four make a regression show up 15 times out of 16.
const SESSIONS: usize = 4;
/// How long output is still read after a session's process exits (`DRAIN_AFTER_EXIT`).
const DRAIN_WINDOW: Duration = Duration::from_millis(500);

/// Waits, at most [`TIMEOUT`], until `done` says so.
fn wait_until(what: &str, done: impl FnMut() -> bool) {
    common::poll_until(TIMEOUT, what, done, |d| *d);
}

#[test]
fn output_written_before_the_drain_ends_is_kept_when_the_service_wakes_late() {
    let s = Server::start(&[]);
    let dir = s.dir.path().to_owned();
    // The shell exits at once; a job it leaves behind (deaf to the hang-up the shell's exit
    // sends) writes a little later, while the service is paused, and then closes the terminal.
    let sessions: Vec<String> = (0..SESSIONS)
        .map(|n| {
            let marker = dir.join(format!("late-{n}"));
            let cmd = format!(
                "trap '' HUP; (sleep 0.2; printf 'late output %s.' {n}; : > {}) & printf 'early %s.' {n}",
                marker.display()
            );
            id(&s.create(json!({ "command": cmd })))
        })
        .collect();
    // Every shell has been reaped by the service: its drain window is open.
    let pids: Vec<i64> = sessions
        .iter()
        .map(|sid| s.session(sid)["pid"].as_i64().expect("pid"))
        .collect();
    wait_until("the shells reaped", || {
        pids.iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
    });
    let reaped = Instant::now();
    s.signal(Signal::SIGSTOP);
    let paused = || {
        wait_until("the jobs' late output written", || {
            (0..SESSIONS).all(|n| dir.join(format!("late-{n}")).exists())
        });
        // The service wakes with the output waiting and the drain window already over.
        let over = reaped + DRAIN_WINDOW + Duration::from_millis(200);
        std::thread::sleep(over.saturating_duration_since(Instant::now()));
    };
    let outcome = std::panic::catch_unwind(paused);
    s.signal(Signal::SIGCONT);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    for (n, sid) in sessions.iter().enumerate() {
        let end = s.wait_exit(sid);
        assert_eq!(end["status"], "completed", "{end}");
        let out = s
            .get(&format!("/api/sessions/{sid}/output?format=text"))
            .text();
        assert!(out.contains(&format!("early {n}.")), "{out:?}");
        assert!(
            out.contains(&format!("late output {n}.")),
            "session {n} lost what its job wrote before the drain ended: {out:?}\n{}",
            s.log()
        );
    }
}

#[test]
fn a_job_that_never_stops_writing_does_not_keep_its_session_running() {
    let s = Server::start(&[]);
    // The shell exits at once; four `yes`, deaf to the hang-up, flood the terminal for ever.
    // The drain after exit ends (its last look at the terminal is bounded too), and so does
    // the session: a job left behind cannot keep it "running".
    let sid = id(&s.create(json!({
        "command": "trap '' HUP; stty raw -echo; \
                    for n in 1 2 3 4; do yes lanterm-flood-test & done; printf 'leader done.'"
    })));
    let end = s.wait_exit(&sid);
    assert_eq!(end["status"], "completed", "{end}");
    assert_eq!(end["exit_code"], 0, "{end}");
    let flood = end["output_bytes"].as_u64().expect("output_bytes");
    assert!(flood > 0, "{end}");
    // With the terminal closed, the job's next write fails and it ends too.
    wait_until("the flooding job gone", || {
        !std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|p| {
                std::fs::read(p.path().join("cmdline"))
                    .is_ok_and(|c| c.windows(18).any(|w| w == b"lanterm-flood-test"))
            })
    });
    // Still serving.
    let next = id(&s.create(json!({ "command": "printf again" })));
    assert_eq!(s.wait_exit(&next)["status"], "completed");
}
