//! The handover document: which inherited descriptor is what, as a small JSON document in a
//! memfd named `lanterm-handover` (found by that name among the inherited descriptors).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{OwnedFd, RawFd};

use nix::sys::memfd::{MFdFlags, memfd_create};
use serde::Serialize;
use serde_json::Value;

/// The document's format; a program that does not know it does not take the sessions.
pub const VERSION: u32 = 1;
/// Largest document read: 4096 sessions (the `--max-sessions` ceiling) take under 1 MiB.
pub const MAX_DOC: u64 = 4 * 1024 * 1024;
/// Most sessions a document may hand over: the `--max-sessions` ceiling.
pub const MAX_SESSIONS: usize = 4096;
pub(super) const MEMFD_NAME: &str = "lanterm-handover";

/// The handover document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Doc {
    pub version: u32,
    /// The binary's path, which the next upgrade executes again.
    pub exe: String,
    pub sessions: Vec<DocSession>,
    pub listeners: Vec<DocListener>,
    /// The binary that handed over, to go back to if the new one cannot start.
    pub previous: Option<DocPrevious>,
    /// The database's lock file, locked (the new program goes on holding the lock). Optional:
    /// programs from before the lock neither send nor read it.
    pub lock_fd: Option<RawFd>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocListener {
    /// The `--listen` value it was bound for.
    pub listen: String,
    pub fd: RawFd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocPrevious {
    /// The previous binary, open for reading.
    pub exe_fd: RawFd,
    /// Its command line.
    pub argv: Vec<String>,
}

fn int<T: TryFrom<i64>>(v: &Value, key: &str) -> Option<T> {
    T::try_from(v.get(key)?.as_i64()?).ok()
}

impl Doc {
    /// The document from its JSON (by hand: derived deserializers cost more code than this).
    fn from_value(v: &Value) -> Option<Doc> {
        let list = |key: &str| v.get(key).and_then(Value::as_array);
        Some(Doc {
            version: int(v, "version")?,
            exe: v.get("exe")?.as_str()?.to_owned(),
            sessions: list("sessions")?
                .iter()
                .map(|s| {
                    Some(DocSession {
                        seq: int(s, "seq")?,
                        id: s.get("id")?.as_str()?.to_owned(),
                        pid: int(s, "pid")?,
                        fd: int(s, "fd")?,
                        end: s.get("end")?.as_u64()?,
                        stopping: s.get("stopping")?.as_bool()?,
                        last_output_at: s.get("last_output_at").and_then(Value::as_i64),
                    })
                })
                .collect::<Option<_>>()?,
            listeners: list("listeners")?
                .iter()
                .map(|l| {
                    Some(DocListener {
                        listen: l.get("listen")?.as_str()?.to_owned(),
                        fd: int(l, "fd")?,
                    })
                })
                .collect::<Option<_>>()?,
            previous: match v.get("previous") {
                None | Some(Value::Null) => None,
                Some(p) => Some(DocPrevious {
                    exe_fd: int(p, "exe_fd")?,
                    argv: p
                        .get("argv")?
                        .as_array()?
                        .iter()
                        .map(|a| a.as_str().map(str::to_owned))
                        .collect::<Option<_>>()?,
                }),
            },
            lock_fd: int(v, "lock_fd"),
        })
    }
}

/// Checks and parses a document read from the memfd.
pub fn parse(bytes: &[u8]) -> Result<Doc, String> {
    if bytes.len() as u64 > MAX_DOC {
        return Err(format!("over {MAX_DOC} bytes"));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let doc = Doc::from_value(&v).ok_or("not a handover document")?;
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

/// Reads and parses the document from its memfd.
pub(super) fn read(mut file: File) -> Result<Doc, String> {
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_DOC + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    parse(&bytes)
}

/// The document in a new memfd (close-on-exec until the exec clears it).
pub(super) fn write(doc: &Doc) -> io::Result<OwnedFd> {
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
    use std::os::fd::AsRawFd;

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
            lock_fd: Some(7),
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
