//! PTYs and the processes on them: the one module that talks to the kernel through `unsafe`.
//!
//! [`spawn`] opens a pseudo-terminal with `openpty`, starts a process whose controlling terminal
//! is its slave side (new session, `TIOCSCTTY`, optional privilege drop, working directory), and
//! hands back a [`Pty`] (the non-blocking master, read and written through tokio's `AsyncFd`) and
//! the tokio [`Child`] that reaps it. The child starts clean whatever the service inherited:
//! every signal at its default action, none blocked; the terminal belongs to its user.
//! `session_signal::signal_session` delivers a signal to every process of a terminal
//! session, including grandchildren in other process groups.
//!
//! For upgrades (see `crate::upgrade`): [`Pty::adopt`] wraps a master inherited across `execve`,
//! [`Inherited`] takes ownership of inherited descriptors, and [`no_spawns`] holds off spawning
//! while the upgrade makes descriptors inheritable.
#![allow(unsafe_code)]

pub use super::child::{Credentials, SpawnError, SpawnSpec};

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::pty::{Winsize, openpty};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::signalfd::SignalFd;
use nix::sys::stat::{Mode, fchmod};
use nix::unistd::Pid;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::process::{Child, Command};

nix::ioctl_write_ptr_bad!(set_winsize, nix::libc::TIOCSWINSZ, Winsize);
nix::ioctl_write_int_bad!(set_controlling_tty, nix::libc::TIOCSCTTY);
nix::ioctl_read_bad!(get_winsize, nix::libc::TIOCGWINSZ, Winsize);
nix::ioctl_read_bad!(get_pty_number, nix::libc::TIOCGPTN, nix::libc::c_uint);

/// Held while a PTY is opened and a child forked, so that no other child of ours is forked
/// between `openpty` and the moment both PTY descriptors are close-on-exec: a PTY descriptor
/// leaked into another session's child would keep that terminal open after its own process ended.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

/// The master side of a PTY, non-blocking and registered with tokio.
pub struct Pty {
    master: AsyncFd<OwnedFd>,
}

fn winsize(cols: u16, rows: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

fn set_cloexec(fd: &OwnedFd) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

/// Opens a PTY and starts `spec` on it. Must be called from within a tokio runtime.
pub fn spawn(spec: &SpawnSpec) -> Result<(Pty, Child), SpawnError> {
    // Everything the child needs is prepared before fork: after fork only async-signal-safe
    // calls are allowed, so no allocation happens in `pre_exec`.
    let cwd = CString::new(spec.cwd.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "cwd contains a NUL byte"))?;
    let owner = super::child::terminal_owner(spec.credentials.as_ref());
    // std's own error pipe carries only an errno, the same for every step of the child's setup:
    // this one says that it was the working directory.
    let (cwd_failed, report) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    let setup = ChildSetup {
        cwd,
        credentials: spec.credentials.clone(),
        last_signal: nix::libc::SIGRTMAX(),
        report,
    };

    let _guard = SPAWN_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pair = openpty(&winsize(spec.cols, spec.rows), None)?;
    set_cloexec(&pair.master)?;
    set_cloexec(&pair.slave)?;
    let flags = OFlag::from_bits_truncate(fcntl(&pair.master, FcntlArg::F_GETFL)?);
    fcntl(&pair.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    if let Some((uid, gid)) = owner {
        // As login does: the user's terminal (screen, gpg's pinentry and mesg need it), which
        // only the tty group (write, wall) may also write to.
        nix::unistd::fchown(&pair.slave, Some(uid), Some(gid))?;
        fchmod(&pair.slave, Mode::from_bits_truncate(0o620))?;
    }

    let mut cmd = Command::new(&spec.program);
    cmd.arg0(&spec.arg0)
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(pair.slave.try_clone()?)
        .stdout(pair.slave.try_clone()?)
        .stderr(pair.slave)
        // Reap through tokio, and never leave a running child behind if we drop the handle.
        .kill_on_drop(false);
    // SAFETY: the closure runs in the forked child before exec; `ChildSetup::run` only makes
    // direct system calls on data prepared before the fork, allocates nothing, takes no lock.
    unsafe {
        cmd.pre_exec(move || setup.run());
    }
    let child = cmd.spawn();
    drop(cmd); // closes our copies of the slave, so the master sees EOF when the child's go.
    drop(_guard);
    let child = child.map_err(|e| SpawnError::reported(e, &cwd_failed))?;
    Ok((Pty::register(pair.master)?, child))
}

/// Starts `cmd` (pipes and arguments set by the caller) as `credentials`' user when given: its
/// process takes their groups, gid and uid between fork and exec, before it runs or opens
/// anything (the file transfer worker). Under [`SPAWN_LOCK`], so it inherits no PTY descriptor.
pub fn spawn_as(mut cmd: Command, credentials: Option<Credentials>) -> io::Result<Child> {
    if let Some(c) = credentials {
        // SAFETY: the closure runs in the forked child before exec and only makes three direct
        // system calls on data moved in before the fork; it allocates nothing and takes no lock.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setgroups(&c.groups)?;
                nix::unistd::setgid(c.gid)?;
                nix::unistd::setuid(c.uid)?;
                Ok(())
            });
        }
    }
    let _guard = SPAWN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    cmd.spawn()
}

/// What the child does between fork and exec, prepared before the fork.
struct ChildSetup {
    cwd: CString,
    credentials: Option<Credentials>,
    /// The highest signal number (`SIGRTMAX`).
    last_signal: i32,
    /// Where the child writes its errno when it cannot enter `cwd` (close-on-exec).
    report: OwnedFd,
}

impl ChildSetup {
    /// Runs in the forked child: only async-signal-safe system calls, no allocation, no lock.
    fn run(&self) -> io::Result<()> {
        nix::unistd::setsid()?;
        // SAFETY: TIOCSCTTY takes an integer argument and touches no memory of ours; stdin is
        // the PTY slave by now (std's dup2 runs before pre_exec).
        unsafe { set_controlling_tty(0, 0) }?;
        if let Some(c) = &self.credentials {
            nix::unistd::setgroups(&c.groups)?;
            nix::unistd::setgid(c.gid)?;
            nix::unistd::setuid(c.uid)?;
        }
        // After the privilege drop: the kernel answers as the session's user would be answered.
        if let Err(e) = nix::unistd::chdir(self.cwd.as_c_str()) {
            let _ = nix::unistd::write(&self.report, &(e as i32).to_ne_bytes());
            return Err(e.into());
        }
        // Last, so the C library's own calls above (setuid's) ran with its signals as it set them.
        reset_signals(self.last_signal);
        Ok(())
    }
}

/// Puts every signal back to its default action and unblocks them all. An ignored signal stays
/// ignored across `exec`, so a `trap '' QUIT` (or `nohup`) in whatever started the service
/// would otherwise reach every session. Through the raw system call, because the C library
/// refuses to touch the signals it keeps for itself (32 and 33 with glibc), which a process
/// can inherit ignored too (glibc's `posix_spawn` leaves them so).
fn reset_signals(last_signal: i32) {
    // The kernel's `struct sigaction` all zero means SIG_DFL, no flags, an empty mask, whatever
    // the field order of the architecture; this is larger than that struct on every one.
    let default = [0u64; 8];
    // The kernel's signal set holds signals 1..=SIGRTMAX, a bit each.
    let set_size = (last_signal as usize).div_ceil(8);
    for signal in 1..=last_signal {
        // SAFETY: rt_sigaction reads one kernel `struct sigaction` from `default` (valid,
        // zeroed, large enough) and writes nothing (the old action pointer is null). SIGKILL
        // and SIGSTOP answer EINVAL and change nothing.
        unsafe {
            nix::libc::syscall(
                nix::libc::SYS_rt_sigaction,
                signal,
                default.as_ptr(),
                std::ptr::null_mut::<nix::libc::c_void>(),
                set_size,
            )
        };
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

impl Pty {
    fn register(master: OwnedFd) -> io::Result<Pty> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        // SAFETY: `OwnedFd` owns an open descriptor; the `AsyncFd` takes ownership of it and it
        // is neither closed nor replaced until the `AsyncFd` is dropped.
        let master = unsafe { AsyncFd::register_with_interest(master, interest) }
            .map_err(io::Error::from)?;
        Ok(Pty { master })
    }

    /// Takes over the master of a PTY inherited across an upgrade's `execve`: checked to be a
    /// PTY master, made close-on-exec and non-blocking again, registered with tokio.
    pub fn adopt(master: OwnedFd) -> io::Result<Pty> {
        let mut number: nix::libc::c_uint = 0;
        // SAFETY: TIOCGPTN writes one `c_uint` through the pointer, valid for the call. Only a
        // PTY master answers it (anything else fails with ENOTTY or EINVAL).
        unsafe { get_pty_number(master.as_raw_fd(), &mut number) }.map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a PTY master: {e}"),
            )
        })?;
        set_cloexec(&master)?;
        let flags = OFlag::from_bits_truncate(fcntl(&master, FcntlArg::F_GETFL)?);
        fcntl(&master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        Pty::register(master)
    }

    /// The master descriptor, to hand over across an upgrade's `execve`.
    pub fn master_fd(&self) -> BorrowedFd<'_> {
        self.master.get_ref().as_fd()
    }

    /// Reads output. `Ok(0)` means the terminal is closed: no process holds its slave side any
    /// more (Linux reports that as `EIO`, which is folded into `Ok(0)` here).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.master.readable().await?;
            match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), buf).map_err(io::Error::from)) {
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) if e.raw_os_error() == Some(Errno::EIO as i32) => return Ok(0),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Reads what the kernel holds right now, without waiting or asking tokio whether the
    /// descriptor is readable: `Ok(None)` when nothing is there yet, `Ok(Some(0))` when the
    /// terminal is closed. For a last look at a session's output once waiting is over.
    pub fn read_now(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match nix::unistd::read(self.master.get_ref(), buf) {
                Ok(n) => return Ok(Some(n)),
                Err(Errno::EIO) => return Ok(Some(0)),
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes all of `data` to the terminal (the program's input), waiting while the kernel's
    /// input queue is full.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.master.writable().await?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(Ok(n)) => data = data.get(n..).unwrap_or_default(),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Sets the window size; the kernel sends SIGWINCH to the terminal's foreground group.
    pub fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        let ws = winsize(cols, rows);
        // SAFETY: TIOCSWINSZ reads one `winsize` through the pointer, which is valid for the call.
        unsafe { set_winsize(self.master.get_ref().as_raw_fd(), &ws) }?;
        Ok(())
    }

    /// The process group currently in the terminal's foreground, if any. (Linux answers 0 for
    /// a terminal with no foreground group; 0 would mean *our own* group to `killpg`.)
    pub fn foreground_group(&self) -> Option<Pid> {
        nix::unistd::tcgetpgrp(self.master.get_ref().as_fd())
            .ok()
            .filter(|p| p.as_raw() > 1)
    }
}

/// Descriptors this process inherited through `execve` (numbers above 2 that were not
/// close-on-exec when [`Inherited::list`] looked), with what `/proc/self/fd` says each one is.
/// Listing also makes *every* descriptor above 2 close-on-exec, so nothing inherited leaks into
/// a session's process; each inherited one can then be taken (owned) once.
pub struct Inherited(BTreeMap<RawFd, String>);

/// Set once [`Inherited::list`] has run: a second list could hand out a descriptor twice.
static LISTED: AtomicBool = AtomicBool::new(false);

impl Inherited {
    /// Lists (and marks close-on-exec) the inherited descriptors. Call once, first thing in the
    /// service; later calls list nothing.
    pub fn list() -> Inherited {
        let mut found = BTreeMap::new();
        if LISTED.swap(true, Ordering::AcqRel) {
            return Inherited(found);
        }
        let numbers: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
            Ok(dir) => dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&n| n > 2)
                .collect(),
            Err(_) => return Inherited(found),
        };
        for n in numbers {
            // SAFETY: F_GETFD and F_SETFD read and set a descriptor's flags and touch no memory;
            // on a number that is not open (the directory listing's own, closed by now) they
            // fail with EBADF and change nothing.
            let flags = unsafe { nix::libc::fcntl(n, nix::libc::F_GETFD) };
            if flags < 0 {
                continue;
            }
            if flags & nix::libc::FD_CLOEXEC == 0 {
                // Everything this process opens itself (std, tokio, SQLite) is close-on-exec:
                // without the flag, the descriptor came through `execve` and nothing owns it.
                let what = std::fs::read_link(format!("/proc/self/fd/{n}"))
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                found.insert(n, what);
            }
            // SAFETY: as above.
            unsafe { nix::libc::fcntl(n, nix::libc::F_SETFD, flags | nix::libc::FD_CLOEXEC) };
        }
        Inherited(found)
    }

    /// The inherited descriptors not taken yet, with what each one is.
    pub fn iter(&self) -> impl Iterator<Item = (RawFd, &str)> {
        self.0.iter().map(|(n, w)| (*n, w.as_str()))
    }

    /// Takes ownership of inherited descriptor `n`, at most once.
    pub fn take(&mut self, n: RawFd) -> Option<OwnedFd> {
        self.0.remove(&n)?;
        // SAFETY: `n` was open and not close-on-exec when listed: inherited through `execve`,
        // so no object of this process owns it; removing it from the list means it is wrapped
        // only once. Nothing closes descriptors by number in this process.
        Some(unsafe { OwnedFd::from_raw_fd(n) })
    }
}

/// Holds off every spawn while the guard lives: no child is forked meanwhile, so none inherits
/// descriptors made inheritable for an upgrade's `execve` (`upgrade::exec`).
pub fn no_spawns() -> MutexGuard<'static, ()> {
    SPAWN_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A signalfd (`stop_signal`) under the runtime's watch.
pub fn watch_signals(sfd: SignalFd) -> io::Result<AsyncFd<SignalFd>> {
    // SAFETY: the `SignalFd` owns its descriptor and the `AsyncFd` owns it until dropped.
    unsafe { AsyncFd::register_with_interest(sfd, Interest::READABLE) }.map_err(io::Error::from)
}

/// The size (columns, rows) of the terminal on `fd`, if it is one (for `lanterm attach`).
pub fn terminal_size(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut ws = winsize(0, 0);
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, valid for the call.
    unsafe { get_winsize(fd.as_raw_fd(), &mut ws) }.ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}
