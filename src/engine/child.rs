//! What starting a process on a PTY takes and how it can fail, for [`super::pty::spawn`]
//! (which re-exports these): the program, its environment and user ([`SpawnSpec`],
//! [`Credentials`]), whom its terminal belongs to, and [`SpawnError`].

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};

/// Whom the child becomes before it runs the program (only used when the service is root).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
}

/// Everything needed to start a process on a new PTY.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// The program to execute (an absolute path).
    pub program: PathBuf,
    /// `argv[0]` (e.g. `-bash` for a login shell).
    pub arg0: OsString,
    /// Arguments after `argv[0]`.
    pub args: Vec<OsString>,
    /// The complete environment of the child (nothing is inherited from the service).
    pub env: Vec<(OsString, OsString)>,
    /// Working directory, entered after the privilege drop.
    pub cwd: PathBuf,
    pub cols: u16,
    pub rows: u16,
    /// `Some` to switch user in the child; `None` runs it as the service's own user.
    pub credentials: Option<Credentials>,
}

/// Why [`super::pty::spawn`] could not start a process.
#[derive(Debug)]
pub enum SpawnError {
    /// The new process, already its user, could not enter the working directory: the kernel's
    /// answer for that user (`ENOENT`, `EACCES`, `ENOTDIR`, ...), never root's.
    Cwd(Errno),
    /// Anything else: the PTY, the fork, the privilege drop, the program's `exec`.
    Start(io::Error),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::Cwd(e) => write!(f, "cannot enter the working directory: {}", e.desc()),
            SpawnError::Start(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SpawnError {}

impl SpawnError {
    /// Why the child failed: the errno it wrote to its report pipe (the working directory), if
    /// it wrote one, else `e` as the spawn answered it.
    pub(super) fn reported(e: io::Error, report: &OwnedFd) -> SpawnError {
        let mut bytes = [0u8; 4];
        match nix::unistd::read(report, &mut bytes) {
            Ok(4) => SpawnError::Cwd(Errno::from_raw(i32::from_ne_bytes(bytes))),
            _ => SpawnError::Start(e),
        }
    }
}

impl From<io::Error> for SpawnError {
    fn from(e: io::Error) -> SpawnError {
        SpawnError::Start(e)
    }
}

impl From<Errno> for SpawnError {
    fn from(e: Errno) -> SpawnError {
        SpawnError::Start(e.into())
    }
}

/// Whom a new terminal belongs to: the session's user, and the `tty` group if there is one
/// (else the user's own group). `None` when the service is not root: the kernel already gives
/// the terminal to the user who opened it, the only user such a service runs sessions as.
pub(super) fn terminal_owner(credentials: Option<&Credentials>) -> Option<(Uid, Gid)> {
    if !Uid::effective().is_root() {
        return None;
    }
    let (uid, gid) = credentials.map_or((Uid::effective(), Gid::effective()), |c| (c.uid, c.gid));
    let tty = nix::unistd::Group::from_name("tty").ok().flatten();
    Some((uid, tty.map_or(gid, |g| g.gid)))
}
