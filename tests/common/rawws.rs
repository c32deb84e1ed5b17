//! A WebSocket client that writes frames byte by byte as told (unmasked, fragmented, reserved
//! opcodes, bad close codes, invalid UTF-8), for the hostile-input tests; every read has a
//! deadline.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{find, parse_head, upgrade_head};
use crate::common::TIMEOUT;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// How a raw connection ended, if it did.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// A close frame with this code (1005: a close frame without one).
    Close(u16),
    /// The TCP connection ended without a close frame.
    Dropped,
}

pub struct RawWs {
    s: TcpStream,
    buf: Vec<u8>,
    /// Text frames received, as JSON.
    pub texts: Vec<Value>,
    /// Bytes of binary frames received.
    pub bytes: Vec<u8>,
    /// Pongs received.
    pub pongs: usize,
}

impl RawWs {
    /// Attaches to `path` (a full attach path with its query) and reads the 101 answer.
    pub fn open(addr: &str, path: &str) -> RawWs {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_write_timeout(Some(TIMEOUT)).unwrap();
        s.write_all(&upgrade_head(addr, path)).unwrap();
        let mut ws = RawWs {
            s,
            buf: Vec::new(),
            texts: Vec::new(),
            bytes: Vec::new(),
            pongs: 0,
        };
        let end = loop {
            if let Some(end) = find(&ws.buf, b"\r\n\r\n") {
                break end;
            }
            assert_eq!(ws.fill(TIMEOUT), Some(true), "no handshake answer");
        };
        let (status, _) = parse_head(&ws.buf[..end]);
        assert_eq!(status, 101, "{:?}", String::from_utf8_lossy(&ws.buf));
        ws.buf.drain(..end + 4);
        ws
    }

    /// Reads more bytes into the buffer: `Some(true)` read some, `Some(false)` `wait` passed,
    /// `None` the connection ended (EOF or reset).
    fn fill(&mut self, wait: Duration) -> Option<bool> {
        self.s
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        let mut chunk = [0u8; 64 * 1024];
        match self.s.read(&mut chunk) {
            Ok(0) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Some(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Some(false)
            }
            Err(_) => None,
        }
    }

    /// Writes one frame: `fin`, opcode, payload, masked (as clients must) or not.
    pub fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8], masked: bool) {
        let _ = self.s.write_all(&encode(fin, opcode, payload, masked));
    }

    /// A whole masked frame.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.frame(true, opcode, payload, true);
    }

    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    /// The next server frame within `wait` (filed in `texts`, `bytes`, `pongs`); `Err` when
    /// the connection ended without one, `Ok(None)` when `wait` passed.
    pub fn next(&mut self, wait: Duration) -> Result<Option<(u8, Vec<u8>)>, End> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some((opcode, payload, used)) = decode(&self.buf) {
                self.buf.drain(..used);
                match opcode {
                    TEXT => self.texts.push(
                        serde_json::from_slice(&payload)
                            .unwrap_or_else(|e| panic!("{e}: {payload:?}")),
                    ),
                    BINARY => self.bytes.extend_from_slice(&payload),
                    PONG => self.pongs += 1,
                    _ => {}
                }
                return Ok(Some((opcode, payload)));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if self.fill(left).is_none() {
                return Err(End::Dropped);
            }
        }
    }

    /// Reads until the server closes: the close frame's code, or [`End::Dropped`].
    pub fn end(&mut self) -> End {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "still open after {TIMEOUT:?}");
            match self.next(left) {
                Err(end) => return end,
                Ok(Some((CLOSE, payload))) => {
                    return End::Close(match payload.get(..2) {
                        Some(b) => u16::from_be_bytes([b[0], b[1]]),
                        None => 1005,
                    });
                }
                Ok(_) => {}
            }
        }
    }

    /// The next text frame of type `ty` (reading on as needed).
    pub fn text(&mut self, ty: &str) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.texts.iter().position(|t| t["type"] == ty) {
                return self.texts.remove(i);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Ok(Some(_)) => {}
                other => panic!("no {ty} frame: {other:?}, texts {:?}", self.texts),
            }
        }
    }

    /// Reads until the binary output holds `needle`.
    pub fn read_contains(&mut self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !crate::common::contains(&self.bytes, needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Ok(Some(_)) => {}
                other => panic!(
                    "no {needle:?} in {:?}: {other:?}",
                    String::from_utf8_lossy(&self.bytes)
                ),
            }
        }
    }
}

/// One frame on the wire.
pub fn encode(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A whole server frame at the front of `buf`: opcode, payload, bytes used.
fn decode(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let b0 = *buf.first()?;
    let b1 = *buf.get(1)?;
    assert_eq!(b1 & 0x80, 0, "the server masked a frame");
    let (len, at) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().unwrap();
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    Some((b0 & 0x0f, payload, at + len))
}
