//! Signalling every process of a terminal session, grandchildren in other process groups
//! included (see [`signal_session`]); reached as `pty::signal_session`.

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::pty::Pty;

/// Sends `signal` to every process in terminal session `sid` (the session leader's pid): its
/// process group, the terminal's foreground group, and every other process whose session id is
/// `sid` (job-control shells put each job in a group of its own). Processes that left the
/// session with `setsid` are deliberately out of reach, as with any terminal.
///
/// `leader_alive` says the leader has not been reaped yet, so its pid still names our process
/// group; once reaped, that number may be reused and only the `/proc` scan is trusted.
pub fn signal_session(sid: Pid, signal: Signal, pty: Option<&Pty>, leader_alive: bool) {
    if sid.as_raw() <= 1 {
        return; // 0, 1 and negative numbers name us, init, or everyone: never a session of ours
    }
    if leader_alive {
        let _ = killpg(sid, signal);
    }
    if let Some(pgrp) = pty.and_then(Pty::foreground_group) {
        let _ = killpg(pgrp, signal);
    }
    for pid in session_members(sid) {
        let _ = kill(pid, signal);
    }
}

/// Pids of the processes whose session id is `sid`, read from `/proc`.
fn session_members(sid: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let name = entry.ok()?.file_name();
        let pid: i32 = name.to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        (session_of_stat(&stat)? == sid.as_raw()).then_some(Pid::from_raw(pid))
    })
    .collect()
}

/// The session id field of a `/proc/PID/stat` line. The command name in parentheses may contain
/// spaces and parentheses itself, so fields are counted from the last `)`.
fn session_of_stat(stat: &str) -> Option<i32> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    // After the name: state, ppid, pgrp, session, ...
    rest.split_ascii_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_field_is_found_after_a_tricky_name() {
        let stat = "4242 (we ird) (name) S 1 4242 4240 34816 4242 4194560 1 0";
        assert_eq!(session_of_stat(stat), Some(4240));
        assert_eq!(session_of_stat("garbage"), None);
        assert_eq!(session_of_stat("1 (x) S 1"), None);
    }

    #[test]
    fn this_process_is_found_in_its_own_session() {
        let me = Pid::this();
        let sid = nix::unistd::getsid(None).expect("getsid of self");
        assert!(session_members(sid).contains(&me));
    }
}
