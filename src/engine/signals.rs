//! Signals and sessions: the names a stop request may give (and the names an ended session's
//! signal is shown with, the inverse), and stopping a session: the polite signals now, SIGKILL to
//! whatever is left of it after the grace period.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::engine::session::Session;
use crate::engine::session_signal;
use crate::model::error::{Error, Result};

/// The signals a stop request may ask for.
pub fn parse_stop_signal(name: &str) -> Result<Signal> {
    match name {
        "TERM" => Ok(Signal::SIGTERM),
        "HUP" => Ok(Signal::SIGHUP),
        "INT" => Ok(Signal::SIGINT),
        "KILL" => Ok(Signal::SIGKILL),
        other => Err(Error::bad_request(format!(
            "signal must be one of TERM, HUP, INT, KILL, not {other:?}"
        ))),
    }
}

/// `SIGKILL` → `"KILL"`.
pub fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(s) => s.as_str().trim_start_matches("SIG").to_owned(),
        Err(_) => signal.to_string(),
    }
}

/// Signals a running session and arms the SIGKILL that follows after `grace`.
pub(super) fn stop(session: &Arc<Session>, signal: Option<Signal>, grace: Duration) {
    let (Some(pid), true) = (session.pid(), session.status().is_running()) else {
        return;
    };
    let sid = Pid::from_raw(pid);
    session.note_stop_requested();
    let pty = session.pty();
    let signals: &[Signal] = match &signal {
        Some(s) => std::slice::from_ref(s),
        None => &[Signal::SIGHUP, Signal::SIGTERM],
    };
    for &s in signals {
        session_signal::signal_session(sid, s, pty.as_deref(), session.leader_alive());
    }
    drop(pty);
    let session = session.clone();
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        // Whatever is left of the session (the leader, or descendants that ignored the polite
        // signals) is killed now.
        let leader_alive = session.leader_alive();
        session_signal::signal_session(
            sid,
            Signal::SIGKILL,
            session.pty().as_deref(),
            leader_alive,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_have_short_names_that_parse_back() {
        assert_eq!(signal_name(9), "KILL");
        assert_eq!(signal_name(1), "HUP");
        assert_eq!(signal_name(12345), "12345");
        for name in ["TERM", "HUP", "INT", "KILL"] {
            let signal = parse_stop_signal(name).unwrap();
            assert_eq!(signal_name(signal as i32), name);
        }
        assert!(parse_stop_signal("SIGTERM").is_err());
        assert!(parse_stop_signal("USR1").is_err());
    }
}
