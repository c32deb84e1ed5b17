//! The `GET /api/events` side of the black-box tests: a server-sent events reader over a plain
//! `TcpStream`, with a deadline on every wait.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use serde_json::Value;

use super::{connect, dechunk, find, parse_head};
use crate::common::TIMEOUT;

/// A `GET /api/events` stream. Subscribed once [`Events::open`] returns (the answer's head
/// has arrived).
pub struct Events {
    stream: TcpStream,
    raw: Vec<u8>,
    text: Vec<u8>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Events {
    pub fn open(addr: &str) -> Events {
        Events::open_with(addr, None)
    }

    /// Opens the stream with a bearer token.
    pub fn open_with(addr: &str, token: Option<&str>) -> Events {
        let mut stream = connect(addr);
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let req =
            format!("GET /api/events HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                break end;
            }
            let n = stream.read(&mut buf).expect("read the events head");
            assert!(
                n > 0,
                "events stream closed: {:?}",
                String::from_utf8_lossy(&raw)
            );
            raw.extend_from_slice(&buf[..n]);
        };
        let (status, headers) = parse_head(&raw[..end]);
        raw.drain(..end + 4);
        Events {
            stream,
            raw,
            text: Vec::new(),
            status,
            headers,
        }
    }

    /// The next event (name, data), skipping comments; fails after [`TIMEOUT`].
    pub fn next(&mut self) -> (String, Value) {
        let deadline = Instant::now() + TIMEOUT;
        let mut buf = [0u8; 4096];
        loop {
            dechunk(&mut self.raw, &mut self.text);
            while let Some(end) = find(&self.text, b"\n\n") {
                let block: Vec<u8> = self.text.drain(..end + 2).collect();
                let block = String::from_utf8_lossy(&block).into_owned();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if let Some(name) = name {
                    let data = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("event data not JSON ({e}): {block:?}"));
                    return (name, data);
                }
            }
            assert!(Instant::now() < deadline, "no event within {TIMEOUT:?}");
            let n = self.stream.read(&mut buf).expect("read events");
            assert!(n > 0, "the events stream ended");
            self.raw.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads (and drops) events until the server ends the stream; `false` if it is still open
    /// after [`TIMEOUT`].
    pub fn ends(&mut self) -> bool {
        self.ends_within(TIMEOUT).is_some()
    }

    /// Reads until the server ends the stream, at most `wait`: the text of the stream not read
    /// as events yet (comments included), or `None` if it is still open.
    pub fn ends_within(&mut self, wait: std::time::Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(_) => break,
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        dechunk(&mut self.raw, &mut self.text);
        Some(String::from_utf8_lossy(&self.text).into_owned())
    }

    /// The next event for which `f` holds, skipping others.
    pub fn next_where(&mut self, f: impl Fn(&str, &Value) -> bool) -> (String, Value) {
        loop {
            let (name, data) = self.next();
            if f(&name, &data) {
                return (name, data);
            }
        }
    }
}
