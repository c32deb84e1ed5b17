//! Raw probes for the hostile-input tests: bytes written to the socket exactly as given, every
//! answer read back until the server closes, the server process inspected through `/proc`, and
//! the one check every such test ends with: the server still serves a terminal.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Client, Resp, Server, find, id, parse_head, parse_response};
use crate::common::TIMEOUT;

/// Small limits, so the hostile tests reach them with small requests.
pub const SMALL_LIMITS: &[&str] = &[
    "--max-body",
    "64KiB",
    "--max-head",
    "8KiB",
    "--max-headers",
    "16",
];

impl Server {
    /// The server process exists and is not a zombie.
    pub fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .ok()
            .and_then(|stat| {
                let state = stat
                    .rsplit(')')
                    .next()?
                    .split_whitespace()
                    .next()?
                    .to_owned();
                Some(state != "Z" && state != "X")
            })
            .unwrap_or(false)
    }

    /// The server's resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }
}

/// What a raw probe got back: every byte the server sent before it closed (or before
/// [`TIMEOUT`]), and whether it closed.
pub struct Raw {
    pub bytes: Vec<u8>,
    pub closed: bool,
}

impl Raw {
    /// The answers in `bytes`, in order (heads and bodies as framed by their headers).
    pub fn answers(&self) -> Vec<Resp> {
        let mut out = Vec::new();
        let mut rest = &self.bytes[..];
        while let Some(end) = find(rest, b"\r\n\r\n") {
            let (_, headers) = parse_head(&rest[..end]);
            let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            let len = if header("transfer-encoding").is_some() {
                // Only the last answer may be chunked here (we never pipeline behind one).
                rest.len() - end - 4
            } else {
                header("content-length").map_or(0, |l| l.parse::<usize>().unwrap())
            };
            let whole = end + 4 + len;
            assert!(whole <= rest.len(), "truncated answer: {:?}", self.text());
            out.push(parse_response(&rest[..whole]));
            rest = &rest[whole..];
        }
        assert!(
            rest.is_empty(),
            "bytes after the answers: {:?}",
            self.text()
        );
        out
    }

    /// The only answer.
    pub fn answer(&self) -> Resp {
        let mut all = self.answers();
        assert_eq!(all.len(), 1, "one answer: {:?}", self.text());
        all.remove(0)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Writes `bytes` as they are (then half-closes when `shut`), and reads until the server
/// closes, at most `wait`.
pub fn raw_for(addr: &str, bytes: &[u8], shut: bool, wait: Duration) -> Raw {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    // A server that answers and closes before reading everything resets the rest: fine.
    let _ = s.write_all(bytes);
    if shut {
        let _ = s.shutdown(Shutdown::Write);
    }
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Raw {
                bytes: out,
                closed: false,
            };
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break, // reset: closed too
        }
    }
    Raw {
        bytes: out,
        closed: true,
    }
}

/// [`raw_for`] waiting up to [`TIMEOUT`] for the close.
pub fn raw(addr: &str, bytes: &[u8]) -> Raw {
    raw_for(addr, bytes, false, TIMEOUT)
}

/// A request head (`Host` of the server, `Connection: close`) with these extra lines, as bytes
/// that may be anything.
pub fn head(addr: &str, request_line: &[u8], lines: &[&[u8]]) -> Vec<u8> {
    let mut out = request_line.to_vec();
    out.extend_from_slice(b"\r\nHost: ");
    out.extend_from_slice(addr.as_bytes());
    out.extend_from_slice(b"\r\nConnection: close\r\n");
    for l in lines {
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A request refused by the HTTP layer: exactly one answer with a 4xx status, whose body is
/// either empty (hyper's own answer to a head it cannot parse) or the contract's error; then
/// the connection is closed.
pub fn assert_refused(raw: &Raw, status: u16) {
    assert!(raw.closed, "still open after: {:?}", raw.text());
    let r = raw.answer();
    assert_eq!(r.status, status, "{:?}", raw.text());
    if !r.body.is_empty() {
        r.error_code(status);
    }
}

/// A request refused with the contract's JSON error of this status and code.
pub fn assert_json_error(raw: &Raw, status: u16, code: &str) {
    raw.answer().assert_error(status, code);
}

/// The closing check of every hostile test: the process is alive, `GET /api/health` is 200,
/// and a new terminal works: a shell session echoes `ok-$N` back over the WebSocket. The
/// session is deleted again so the check changes nothing.
pub async fn assert_serving(s: &Server, n: u32) {
    assert!(s.alive(), "the server died: {}", s.log());
    let health = s.get("/api/health");
    assert_eq!(health.status, 200, "{}", health.text());
    let session = s.create(json!({"cwd": "/", "command": "sh", "env": {"N": n.to_string()}}));
    let sid = id(&session);
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.send_bytes(b"echo ok-$N\n").await;
    // The typed line echoes as `ok-$N`; only the shell's answer has the number.
    c.read_contains(&format!("ok-{n}")).await;
    drop(c);
    let r = s.send("DELETE", &format!("/api/sessions/{sid}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
}
