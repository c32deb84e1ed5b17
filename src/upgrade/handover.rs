//! What crosses `execve` in an upgrade: the running sessions' PTY masters, the listening sockets
//! and the previous binary stay open (their close-on-exec flag cleared for the exec), and a
//! small JSON document in a memfd named `lanterm-handover` says which descriptor is what.
//!
//! The program that starts after the exec finds the memfd among its inherited descriptors
//! ([`take`], first thing in `serve`), claims what the document names, and makes everything
//! close-on-exec again. If it cannot start, [`Handover::roll_back`] executes the previous binary
//! (kept open, so it works even after the file was replaced on disk) with the same handover.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

use super::exec::{Program, exec_keeping};
use crate::engine::HandedSession;
use crate::engine::pty::Inherited;

pub use super::doc::{
    Doc, DocListener, DocPrevious, DocSession, MAX_DOC, MAX_SESSIONS, VERSION, parse,
};
use super::doc::{MEMFD_NAME, read, write};

/// What the previous program handed over, its descriptors owned by this one now.
pub struct Handover {
    pub exe: PathBuf,
    pub sessions: Vec<HandedSession>,
    /// Listening sockets by the `--listen` value they were bound for.
    pub listeners: Vec<(String, OwnedFd)>,
    previous: Option<(OwnedFd, Vec<String>)>,
}

/// Signals held (blocked) across the exec, so that one arriving before the new program handles
/// it waits for it instead of taking its default action (ending the service, sessions and all).
fn held_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR2,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    set
}

/// Lets the held signals that have handlers (SIGHUP, SIGUSR2) in again; call once those are
/// registered. Signals that arrived during the exec are delivered now. SIGTERM and SIGINT stay
/// blocked: they are read from a signalfd (`stop_signal`), pending ones included.
pub fn signals_handled() {
    let mut handled = SigSet::empty();
    handled.add(Signal::SIGUSR2);
    handled.add(Signal::SIGHUP);
    if let Err(e) = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&handled), None) {
        log::warn!("cannot unblock signals: {e}");
    }
}

/// The handover this process received, if it is the new program of an upgrade. Also makes
/// every inherited descriptor close-on-exec. Call first thing, before anything else opens a
/// descriptor, and only once.
pub fn take() -> Option<Handover> {
    let mut inherited = Inherited::list();
    let link = format!("/memfd:{MEMFD_NAME}");
    let number = inherited
        .iter()
        .find(|(_, what)| what.starts_with(&link))
        .map(|(n, _)| n)?;
    let doc = inherited
        .take(number)
        .ok_or_else(|| "not inherited".to_owned())
        .and_then(|fd| read(File::from(fd)));
    match doc {
        Ok(doc) => Some(Handover::claim(doc, &mut inherited)),
        Err(e) => {
            log::error!(
                "upgrade: the handover document is unreadable ({e}); the sessions of the \
                 previous program are lost"
            );
            // Their terminals are closed (their processes get SIGHUP) rather than kept open
            // by a program that cannot read them.
            let masters: Vec<RawFd> = inherited
                .iter()
                .filter(|(_, what)| what.ends_with("/ptmx"))
                .map(|(n, _)| n)
                .collect();
            for n in masters {
                drop(inherited.take(n));
            }
            None
        }
    }
}

impl Handover {
    fn claim(doc: Doc, inherited: &mut Inherited) -> Handover {
        let mut take = |fd: RawFd| (fd > 2).then(|| inherited.take(fd)).flatten();
        let sessions = doc
            .sessions
            .into_iter()
            .map(|s| HandedSession {
                master: take(s.fd),
                seq: s.seq,
                id: s.id,
                pid: s.pid,
                end: s.end,
                stopping: s.stopping,
                last_output_at: s.last_output_at,
            })
            .collect();
        let mut listeners = Vec::new();
        for l in doc.listeners {
            match take(l.fd) {
                Some(fd) => listeners.push((l.listen, fd)),
                None => log::warn!("upgrade: the socket for {} was not inherited", l.listen),
            }
        }
        let previous = doc.previous.and_then(|p| Some((take(p.exe_fd)?, p.argv)));
        if let Some(lock) = doc.lock_fd.and_then(&mut take) {
            crate::store::inherit_lock(lock); // the database's lock, still held
        }
        Handover {
            exe: PathBuf::from(doc.exe),
            sessions,
            listeners,
            previous,
        }
    }

    /// This program cannot start: executes the previous binary with the same handover, so the
    /// sessions survive. Returns only if there is no previous binary or it cannot be executed.
    pub fn roll_back(self, reason: &str) {
        let Some((exe, argv)) = self.previous else {
            log::error!(
                "upgrade: this program cannot start ({reason}) and has no previous one to go \
                 back to: the running sessions are lost"
            );
            return;
        };
        log::error!(
            "upgrade: this program cannot start ({reason}); going back to the previous binary"
        );
        let mut fds = Vec::new();
        let mut doc = Doc {
            version: VERSION,
            exe: self.exe.to_string_lossy().into_owned(),
            sessions: Vec::new(),
            listeners: Vec::new(),
            previous: None,
            lock_fd: None, // the previous binary locks the database anew
        };
        for s in &self.sessions {
            let Some(master) = &s.master else { continue };
            fds.push(master.as_fd());
            doc.sessions.push(DocSession {
                seq: s.seq,
                id: s.id.clone(),
                pid: s.pid,
                fd: master.as_raw_fd(),
                end: s.end,
                stopping: s.stopping,
                last_output_at: s.last_output_at,
            });
        }
        for (listen, fd) in &self.listeners {
            fds.push(fd.as_fd());
            doc.listeners.push(DocListener {
                listen: listen.clone(),
                fd: fd.as_raw_fd(),
            });
        }
        let error = exec(Program::Fd(exe.as_fd()), &argv, &doc, &fds);
        log::error!(
            "upgrade: going back to the previous binary failed ({error}): the running \
             sessions are lost"
        );
    }
}

/// The settings were refused before `serve` began (`main`): if this process is the new program
/// of an upgrade, goes back to the previous binary. Returns if there is none.
pub fn after_bad_settings(reason: &str) {
    crate::system::logging::init(log::LevelFilter::Info);
    if let Some(handover) = take() {
        handover.roll_back(reason);
    }
}

/// Executes `exe` (same pid) handing over `doc` and the descriptors `fds` it names. Returns
/// only if the exec failed; the descriptors are then as they were.
pub fn hand_over(exe: &Path, argv: &[String], doc: &Doc, fds: &[BorrowedFd<'_>]) -> io::Error {
    let Ok(path) = CString::new(exe.as_os_str().as_bytes()) else {
        return io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte");
    };
    exec(Program::Path(&path), argv, doc, fds)
}

fn exec(program: Program<'_>, argv: &[String], doc: &Doc, fds: &[BorrowedFd<'_>]) -> io::Error {
    let memfd = match write(doc) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let argv: Vec<CString> = argv
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut keep = fds.to_vec();
    keep.push(memfd.as_fd());
    exec_keeping(program, &argv, &env, &keep, &held_signals())
}
