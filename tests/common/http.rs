//! The tiny HTTP/1.1 client of the black-box tests (over `std::net::TcpStream`): one request
//! per connection, the answer ([`Resp`]) read to the end, and the response parsing that the
//! event, WebSocket and probe clients share. Re-exported by `server.rs`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use serde_json::Value;

use crate::common::TIMEOUT;

/// An HTTP answer: status, headers (lowercase names) and the (de-chunked) body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// Asserts the contract's error: this status, JSON `{"error": {"code", "message"}}` with
    /// this code and a message, nothing else.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.error_code(status), code, "{}", self.text());
    }

    /// Asserts the contract's error shape with this status; its code.
    pub fn error_code(&self, status: u16) -> String {
        assert_eq!(self.status, status, "status of {:?}", self.text());
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "content type {:?}",
            self.header("content-type")
        );
        let v = self.json();
        let obj = v.as_object().expect("an object");
        assert_eq!(obj.len(), 1, "only \"error\": {v}");
        let message = v["error"]["message"].as_str().expect("a message");
        assert!(!message.is_empty(), "{v}");
        assert_eq!(v["error"].as_object().unwrap().len(), 2, "{v}");
        v["error"]["code"].as_str().expect("a code").to_owned()
    }
}

pub fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// One request on a fresh connection (`Connection: close`), read to the end. The body is
/// written by another thread, so a server that answers early (413) is heard.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    exchange(addr, head.as_bytes(), body)
}

/// Writes `head` and `body` (as they are), reads the answer to the end.
pub fn exchange(addr: &str, head: &[u8], body: &[u8]) -> Resp {
    let mut stream = connect(addr);
    stream.write_all(head).expect("write the request head");
    let mut writer = stream.try_clone().unwrap();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for piece in body.chunks(64 * 1024) {
                if writer.write_all(piece).is_err() {
                    break; // the server answered and closed early
                }
            }
        });
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    raw.extend_from_slice(&buf[..n]);
                    if complete(&raw) {
                        break; // a keep-alive answer (to an upgrade refused) ends here
                    }
                }
                // A reset after the answer (the server did not read the whole body).
                Err(_) if find(&raw, b"\r\n\r\n").is_some() => break,
                Err(e) => panic!("{} {head:?}: {e}", String::from_utf8_lossy(&raw)),
            }
        }
        let _ = stream.shutdown(Shutdown::Both); // unblocks the writer
        parse_response(&raw)
    })
}

/// Whether `raw` holds a whole answer by its own framing (length, last chunk, no body).
pub fn complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let (status, headers) = parse_head(&raw[..end]);
    let body = &raw[end + 4..];
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return true;
    }
    if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        return body.len() >= n;
    }
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return dechunk(&mut body.to_vec(), &mut Vec::new());
    }
    false
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Status line and headers of a response head (without the blank line).
pub fn parse_head(head: &[u8]) -> (u16, Vec<(String, String)>) {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let end = find(raw, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let (status, headers) = parse_head(&raw[..end]);
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut out = Vec::new();
        let rest = dechunk(&mut body, &mut out);
        assert!(rest, "truncated chunked body");
        body = out;
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// Moves the complete chunks at the front of `raw` into `out`; `true` once the last chunk
/// (size 0) was seen.
pub fn dechunk(raw: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    loop {
        let Some(eol) = find(raw, b"\r\n") else {
            return false;
        };
        let line = String::from_utf8_lossy(&raw[..eol]);
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
        if size == 0 {
            raw.clear();
            return true;
        }
        if raw.len() < eol + 2 + size + 2 {
            return false;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw.drain(..eol + 2 + size + 2);
    }
}
