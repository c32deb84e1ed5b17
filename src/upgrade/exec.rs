//! Replacing this process's program for an upgrade: `execve` (or `fexecve` of the previous
//! binary) in the same process, with chosen descriptors kept open across it and the signals the
//! new program must handle held until it does.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::BorrowedFd;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};

use crate::engine::pty;

/// What [`exec_keeping`] runs: a path, or an open executable (the previous binary, which may
/// have been replaced on disk since).
pub enum Program<'a> {
    Path(&'a CStr),
    Fd(BorrowedFd<'a>),
}

/// Replaces this process's program (same pid: its children stay its children) with `program`,
/// keeping the descriptors `keep` open across the exec and the signals `held` blocked, so they
/// wait for the new program to handle them. Returns only if the exec failed, with `keep`
/// close-on-exec again and the signal mask as it was.
pub fn exec_keeping(
    program: Program<'_>,
    argv: &[CString],
    env: &[CString],
    keep: &[BorrowedFd<'_>],
    held: &SigSet,
) -> io::Error {
    // No child may be forked while these descriptors are inheritable.
    let _guard = pty::no_spawns();
    let mut old_mask = SigSet::empty();
    if let Err(e) = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(held), Some(&mut old_mask)) {
        return e.into();
    }
    let mut cleared = Vec::with_capacity(keep.len());
    let mut error = None;
    for fd in keep {
        match fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())) {
            Ok(_) => cleared.push(fd),
            Err(e) => {
                error = Some(io::Error::from(e));
                break;
            }
        }
    }
    let error = error.unwrap_or_else(|| {
        let result = match program {
            Program::Path(path) => nix::unistd::execve(path, argv, env),
            Program::Fd(fd) => nix::unistd::fexecve(fd, argv, env),
        };
        match result {
            Err(e) => e.into(),
            Ok(never) => match never {},
        }
    });
    for fd in cleared {
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    error
}
