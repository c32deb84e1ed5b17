//! SIGTERM and SIGINT, so that none is ever lost, also across an upgrade's `execve`.
//!
//! Both are blocked in every thread of the service (the mask is set before the first thread
//! starts, and threads inherit it) and read from a `signalfd` the runtime polls. A signal that
//! arrives while nobody reads (during the exec of an upgrade, say) therefore stays *pending* on
//! the process instead of being handled by a thread that is about to vanish: `execve` keeps
//! pending signals and the mask, and the new program's `signalfd` reads it as soon as it
//! polls. (With a handler, a SIGTERM taken by another thread in the last microseconds before
//! the exec was lost: the service finished the upgrade and kept running.)

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tokio::io::unix::AsyncFd;

fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set
}

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts from now on.
/// Call first thing in the service, before any thread exists. Processes the service starts
/// get their own mask (sessions: everything unblocked, `pty.rs`).
pub fn block() -> Result<(), String> {
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&stop_signals()), None)
        .map_err(|e| format!("cannot block SIGTERM and SIGINT: {e}"))
}

/// The stop signals as they arrive. Needs [`block`] first and a tokio runtime.
pub struct StopSignals {
    fd: AsyncFd<SignalFd>,
}

impl StopSignals {
    pub fn new() -> Result<StopSignals, String> {
        let flags = SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC;
        let sfd = SignalFd::with_flags(&stop_signals(), flags)
            .map_err(|e| format!("cannot read SIGTERM and SIGINT: {e}"))?;
        let fd = crate::engine::pty::watch_signals(sfd)
            .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
        Ok(StopSignals { fd })
    }

    /// The next SIGTERM or SIGINT (cancel-safe: a signal is taken only when it is returned).
    pub async fn recv(&mut self) -> Signal {
        loop {
            let mut ready = match self.fd.readable().await {
                Ok(r) => r,
                Err(e) => {
                    log::error!("watching for SIGTERM failed ({e}); stopping");
                    return Signal::SIGTERM;
                }
            };
            match ready.get_inner().read_signal() {
                Ok(Some(info)) => {
                    let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
                    return Signal::try_from(signo).unwrap_or(Signal::SIGTERM);
                }
                Ok(None) => ready.clear_ready(),
                Err(e) => {
                    log::error!("reading SIGTERM failed ({e}); stopping");
                    return Signal::SIGTERM;
                }
            }
        }
    }
}
