//! `SIGUSR2` (`systemctl reload lanterm`): the service executes its binary from disk again in
//! the same process (same pid, so systemd's main pid stays right and the sessions' processes
//! stay its children), handing over every running session (see `handover`, and the engine's
//! side in `engine/adopt.rs`, reached through `Manager::freeze` and `Manager::adopt`).
//!
//! In order: the new binary must answer `--version` (else nothing is touched); the API stops
//! (nothing accepted, then WebSockets closed with 1001, event streams ended); every session holds
//! still and its output is committed; the exec. If the exec fails, the sessions go on and the
//! API serves again on the same sockets.

mod doc;
mod exec;
pub mod handover;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::watch;

use self::handover::{Doc, DocListener, DocPrevious, DocSession, Handover};
use crate::api::{self, Listeners, Serving};
use crate::config::Config;
use crate::engine::Frozen;
use crate::engine::Manager;

/// How long the new binary has to answer `--version`.
const CHECK_LIMIT: Duration = Duration::from_secs(5);
/// How long attached clients get to be told goodbye (each close frame has 1 s to go out).
const CLOSE_LIMIT: Duration = Duration::from_secs(2);
/// Most bytes of its answer read.
const CHECK_OUTPUT: usize = 4096;

/// systemd: the service is reloading (`RELOADING=1`).
fn notify_reloading() {
    crate::system::notify::Notifier::from_env().reloading();
}

/// systemd: the reload is over without an exec; the service serves again (`READY=1`). (After a
/// successful exec the new program sends `READY=1` as at any start.)
fn notify_ready_again() {
    crate::system::notify::Notifier::from_env()
        .ready("the upgrade did not happen; serving as before");
}

/// The path to execute for an upgrade: the one the previous program used, for the new program
/// of an upgrade; else `argv[0]` when it names this very binary (so a symlink, such as
/// `/usr/bin/lanterm` → a versioned directory, is followed anew); else what `/proc/self/exe`
/// says, without the ` (deleted)` the kernel adds once the file was replaced. Call at start.
pub fn binary(handover: Option<&Handover>) -> PathBuf {
    if let Some(h) = handover {
        return h.exe.clone();
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let exe = match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(path) => PathBuf::from(path),
        None => exe,
    };
    let arg0 = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.components().count() > 1)
        .and_then(|p| std::path::absolute(p).ok());
    let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    match arg0 {
        Some(a) if inode(&a).is_some() && inode(&a) == inode(Path::new("/proc/self/exe")) => a,
        _ => exe,
    }
}

/// What an upgrade needs beyond the engine: the binary's path and the listening sockets.
pub struct Upgrader {
    exe: PathBuf,
    /// A duplicate of each listening socket with its `--listen` value: handed over, or used
    /// again if the exec fails (the serving loop closes its own copies when it stops).
    listeners: Vec<(String, OwnedFd)>,
}

impl Upgrader {
    pub fn new(exe: PathBuf, config: &Config, listeners: &Listeners) -> Upgrader {
        let mut kept = Vec::new();
        for (listen, dup) in config.listen.iter().zip(listeners.duplicates()) {
            match dup {
                Ok(fd) => kept.push((listen.to_string(), fd)),
                Err(e) => log::warn!("{listen}: not kept for upgrades ({e}); bound anew then"),
            }
        }
        Upgrader {
            exe,
            listeners: kept,
        }
    }

    /// The listening sockets again, after an upgrade that did not happen.
    pub fn listeners(&self, config: &Config) -> Result<Listeners, String> {
        api::bind_inheriting(config, &self.listeners)
    }
}

/// Upgrades, or returns when that did not happen (after logging why). `server` serves the
/// API: it is stopped (with `stop`; `None` on return) once the handover has begun, so the
/// caller serves again if it sees `None`.
pub async fn attempt(
    up: &Upgrader,
    manager: &Manager,
    stop: &watch::Sender<bool>,
    server: &mut Option<Serving>,
) {
    log::info!("SIGUSR2: upgrading to {}", up.exe.display());
    match check(&up.exe).await {
        Ok(version) => log::info!("upgrade: {} is {version}", up.exe.display()),
        Err(e) => {
            log::error!(
                "upgrade refused: {} {e}; serving on with the running program",
                up.exe.display()
            );
            return;
        }
    }
    notify_reloading();
    if let Some(server) = server.take() {
        server.stop(stop).await;
    }
    if !manager.clients_gone(CLOSE_LIMIT).await {
        log::warn!("upgrade: some WebSocket clients were not closed within {CLOSE_LIMIT:?}");
    }
    let error = hand_over(up, manager).await;
    log::error!("upgrade failed: {error}; serving on with the running program");
    notify_ready_again();
}

/// Runs `exe --version` (with the environment the exec would give it): it must answer
/// `lanterm ...` and exit 0 within [`CHECK_LIMIT`].
async fn check(exe: &Path) -> Result<String, String> {
    let child = tokio::process::Command::new(exe)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot be executed: {e}"))?;
    let output = tokio::time::timeout(CHECK_LIMIT, child.wait_with_output())
        .await
        .map_err(|_| format!("did not answer --version within {CHECK_LIMIT:?}"))?
        .map_err(|e| format!("--version: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(CHECK_OUTPUT)]);
    let version = text.lines().next().unwrap_or_default().trim().to_owned();
    if !output.status.success() || !version.starts_with("lanterm ") {
        return Err(format!(
            "answered --version with {version:?} ({}), not lanterm's version",
            output.status
        ));
    }
    Ok(version)
}

/// Holds the sessions still and executes the new binary; returns why that failed (the
/// sessions then go on as the [`Frozen`] guard is dropped).
async fn hand_over(up: &Upgrader, manager: &Manager) -> String {
    let frozen = match manager.freeze().await {
        Ok(f) => f,
        Err(e) => return e,
    };
    // The binary running now, to go back to if the new one cannot start (open even if the
    // file was replaced: this is the old inode).
    let previous = match std::fs::File::open("/proc/self/exe") {
        Ok(f) => Some(OwnedFd::from(f)),
        Err(e) => {
            log::warn!("upgrade: the running binary cannot be kept to go back to: {e}");
            None
        }
    };
    let argv: Vec<String> = std::env::args().collect();
    // The database's lock crosses the exec: no other service can take the database meanwhile.
    let lock = manager.store().lock_descriptor();
    let (mut doc, mut fds) = document(up, &frozen, previous.as_ref(), &argv);
    if let Some(lock) = &lock {
        fds.push(lock.as_fd());
        doc.lock_fd = Some(std::os::fd::AsRawFd::as_raw_fd(lock));
    }
    log::info!(
        "upgrade: handing over {} sessions and {} listening sockets to {}",
        doc.sessions.len(),
        doc.listeners.len(),
        up.exe.display()
    );
    let error = handover::hand_over(&up.exe, &argv, &doc, &fds);
    format!("executing {}: {error}", up.exe.display())
}

/// The handover document and the descriptors it names.
fn document<'a>(
    up: &'a Upgrader,
    frozen: &'a Frozen,
    previous: Option<&'a OwnedFd>,
    argv: &[String],
) -> (Doc, Vec<BorrowedFd<'a>>) {
    use std::os::fd::AsRawFd;
    let mut fds = Vec::new();
    let sessions = frozen
        .sessions
        .iter()
        .filter_map(|s| {
            let pid = s.info.pid?;
            let fd = s.pty.master_fd();
            fds.push(fd);
            Some(DocSession {
                seq: s.info.seq,
                id: s.info.id.as_str().to_owned(),
                pid,
                fd: fd.as_raw_fd(),
                end: s.info.output_bytes,
                stopping: s.stopping,
                last_output_at: s.info.last_output_at.map(|t| t.0),
            })
        })
        .collect();
    let listeners = up
        .listeners
        .iter()
        .map(|(listen, fd)| {
            fds.push(fd.as_fd());
            DocListener {
                listen: listen.clone(),
                fd: fd.as_raw_fd(),
            }
        })
        .collect();
    let previous = previous.map(|fd| {
        fds.push(fd.as_fd());
        DocPrevious {
            exe_fd: fd.as_raw_fd(),
            argv: argv.to_vec(),
        }
    });
    let doc = Doc {
        version: handover::VERSION,
        exe: up.exe.to_string_lossy().into_owned(),
        sessions,
        listeners,
        previous,
        lock_fd: None,
    };
    (doc, fds)
}
