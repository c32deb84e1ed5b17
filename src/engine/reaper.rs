//! A session process's exit: tokio's [`Child`] for the processes this program spawned, and
//! `waitpid` on every `SIGCHLD` for the ones it adopted across an upgrade (still its children,
//! since the pid did not change, but tokio cannot wait for a process it did not spawn).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Waits for one session process to end.
pub(super) enum Reaper {
    Spawned(Child),
    Adopted {
        pid: Pid,
        /// Registered before the first look, so no exit between a look and the wait is missed.
        sigchld: Signal,
        /// The status, once collected (a process reaped is never waited for again).
        status: Option<ExitStatus>,
    },
}

impl Reaper {
    /// Takes charge of `pid`, a child of this process started before the last `execve`. Fails
    /// (ECHILD) if it is not a child of ours.
    pub(super) fn adopt(pid: i32) -> io::Result<Reaper> {
        if pid <= 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("pid {pid}"),
            ));
        }
        let pid = Pid::from_raw(pid);
        let sigchld = signal(SignalKind::child())?;
        // Also the check that it is ours: ECHILD otherwise.
        let status = collect(pid)?;
        Ok(Reaper::Adopted {
            pid,
            sigchld,
            status,
        })
    }

    /// The process's status has been collected (its pid is free for reuse).
    pub(super) fn has_exited(&self) -> bool {
        matches!(
            self,
            Reaper::Adopted {
                status: Some(_),
                ..
            }
        )
    }

    /// Waits for the process to end. Cancel-safe: a status collected is kept for the next call.
    pub(super) async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Reaper::Spawned(child) => child.wait().await,
            Reaper::Adopted {
                pid,
                sigchld,
                status,
            } => loop {
                if status.is_none() {
                    *status = collect(*pid)?;
                }
                if let Some(status) = *status {
                    return Ok(status);
                }
                if sigchld.recv().await.is_none() {
                    return Err(io::Error::other("SIGCHLD can no longer be received"));
                }
            },
        }
    }
}

/// `waitpid(pid, WNOHANG)` as a std [`ExitStatus`] (`None`: still running).
fn collect(pid: Pid) -> io::Result<Option<ExitStatus>> {
    loop {
        return match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(ExitStatus::from_raw((code & 0xff) << 8))),
            Ok(WaitStatus::Signaled(_, signal, core)) => Ok(Some(ExitStatus::from_raw(
                signal as i32 | if core { 0x80 } else { 0 },
            ))),
            Ok(_) => Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}
