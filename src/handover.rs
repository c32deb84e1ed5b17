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
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use serde::{Deserialize, Serialize};

use crate::pty::{self, Inherited, Program};

/// The document's format; a program that does not know it does not take the sessions.
pub const VERSION: u32 = 1;
/// Largest document read: 4096 sessions (the `--max-sessions` ceiling) take under 1 MiB.
pub const MAX_DOC: u64 = 4 * 1024 * 1024;
/// Most sessions a document may hand over: the `--max-sessions` ceiling.
pub const MAX_SESSIONS: usize = 4096;
const MEMFD_NAME: &str = "lanterm-handover";

/// The handover document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    pub version: u32,
    /// The binary's path, which the next upgrade executes again.
    pub exe: String,
    pub sessions: Vec<DocSession>,
    pub listeners: Vec<DocListener>,
    /// The binary that handed over, to go back to if the new one cannot start.
    pub previous: Option<DocPrevious>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocSession {
    pub seq: i64,
    pub id: String,
    pub pid: i32,
    /// The PTY master.
    pub fd: RawFd,
    /// Output offset one past the last byte read: where the output goes on.
    pub end: u64,
    /// A stop was asked for (its SIGKILL is armed again after the grace period).
    pub stopping: bool,
    /// Seconds since the epoch of the last output, if any.
    pub last_output_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocListener {
    /// The `--listen` value it was bound for.
    pub listen: String,
    pub fd: RawFd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocPrevious {
    /// The previous binary, open for reading.
    pub exe_fd: RawFd,
    /// Its command line.
    pub argv: Vec<String>,
}

/// Checks and parses a document read from the memfd.
pub fn parse(bytes: &[u8]) -> Result<Doc, String> {
    if bytes.len() as u64 > MAX_DOC {
        return Err(format!("over {MAX_DOC} bytes"));
    }
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if doc.version != VERSION {
        return Err(format!(
            "format {} (this program reads format {VERSION})",
            doc.version
        ));
    }
    if doc.sessions.len() > MAX_SESSIONS {
        return Err(format!(
            "{} sessions (at most {MAX_SESSIONS})",
            doc.sessions.len()
        ));
    }
    Ok(doc)
}

/// A session as handed over, with its PTY master if it was inherited.
pub struct HandedSession {
    pub seq: i64,
    pub id: String,
    pub pid: i32,
    pub end: u64,
    pub stopping: bool,
    pub last_output_at: Option<i64>,
    pub master: Option<OwnedFd>,
}

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
/// LEAD: add SIGHUP here once its handler (TLS reload) is registered before `signals_handled`.
fn held_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGUSR2] {
        set.add(s);
    }
    set
}

/// Lets the held signals in again; call once their handlers are registered. Signals that
/// arrived during the exec are delivered now.
pub fn signals_handled() {
    if let Err(e) = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&held_signals()), None) {
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

fn read(mut file: File) -> Result<Doc, String> {
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_DOC + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    parse(&bytes)
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
    crate::logging::init(log::LevelFilter::Info);
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
    pty::exec_keeping(program, &argv, &env, &keep, &held_signals())
}

/// The document in a new memfd (close-on-exec until the exec clears it).
fn write(doc: &Doc) -> io::Result<OwnedFd> {
    let bytes = serde_json::to_vec(doc).map_err(io::Error::other)?;
    if bytes.len() as u64 > MAX_DOC {
        return Err(io::Error::other(format!(
            "the handover document would be {} bytes, over {MAX_DOC}",
            bytes.len()
        )));
    }
    let fd = memfd_create(MEMFD_NAME, MFdFlags::MFD_CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(&bytes)?;
    Ok(OwnedFd::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(sessions: usize) -> Doc {
        Doc {
            version: VERSION,
            exe: "/usr/bin/lanterm".into(),
            sessions: (0..sessions)
                .map(|i| DocSession {
                    seq: i as i64 + 1,
                    id: "8fJ2kQ0s1c9wXy_A".into(),
                    pid: 40_000 + i as i32,
                    fd: 10 + i as i32,
                    end: u64::MAX - i as u64,
                    stopping: i % 2 == 0,
                    last_output_at: Some(1_700_000_000),
                })
                .collect(),
            listeners: vec![DocListener {
                listen: "unix:/run/lanterm.sock".into(),
                fd: 5,
            }],
            previous: Some(DocPrevious {
                exe_fd: 6,
                argv: vec!["/usr/bin/lanterm".into(), "serve".into()],
            }),
        }
    }

    #[test]
    fn a_document_reads_back_as_written() {
        let d = doc(3);
        assert_eq!(parse(&serde_json::to_vec(&d).unwrap()), Ok(d));
    }

    #[test]
    fn the_session_limit_is_enforced_and_fits_the_size_limit() {
        let at_limit = serde_json::to_vec(&doc(MAX_SESSIONS)).unwrap();
        assert!(
            (at_limit.len() as u64) < MAX_DOC,
            "{} bytes",
            at_limit.len()
        );
        assert!(parse(&at_limit).is_ok());
        let over = serde_json::to_vec(&doc(MAX_SESSIONS + 1)).unwrap();
        assert!(parse(&over).unwrap_err().contains("4097 sessions"));
    }

    #[test]
    fn oversized_unknown_or_broken_documents_are_refused() {
        let mut big = serde_json::to_vec(&doc(1)).unwrap();
        big.resize(MAX_DOC as usize + 1, b' ');
        assert!(parse(&big).unwrap_err().starts_with("over"));
        let mut future = doc(1);
        future.version = VERSION + 1;
        let future = serde_json::to_vec(&future).unwrap();
        assert!(parse(&future).unwrap_err().contains("format 2"));
        assert!(parse(b"{\"version\":1}").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn a_document_goes_through_a_memfd() {
        let d = doc(2);
        let fd = write(&d).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert!(
            link.to_string_lossy()
                .starts_with(&format!("/memfd:{MEMFD_NAME}")),
            "{link:?}"
        );
        assert_eq!(read(File::from(fd)), Ok(d));
    }
}
