//! The real `lanterm serve` for the benchmarks (`target/release/lanterm`), started the way the
//! tests start it (`tests/common/spawn.rs`), and a few lines of HTTP/1.1 to talk to it. Shared
//! by `api.rs`, `auth.rs`, `startup.rs` and `upgrade.rs`.
#![allow(dead_code)]

#[path = "../common/spawn.rs"]
pub mod spawn;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use spawn::{Running, Spawn};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Every wait on the server is bounded by this (a scenario run never takes this long).
pub const DEADLINE: Duration = Duration::from_secs(60);

pub type Ws = WebSocketStream<tokio::net::TcpStream>;

/// The `target/release/lanterm` that `cargo build --release --bin lanterm` produced.
pub fn binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/lanterm");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --release --locked --bin lanterm` first (scripts/bench does)",
        bin.display()
    );
    bin
}

/// A real `lanterm serve` on 127.0.0.1 with a database of its own; SIGTERMed when dropped.
pub struct Server {
    proc: Running,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// A bearer token sent with [`Server::get`], once logged in.
    pub token: Option<String>,
}

impl Server {
    /// With `--no-auth`.
    pub fn start(dir: &Path) -> Server {
        Server::start_with(dir, &["--no-auth"])
    }

    /// With `args` added (without `--no-auth`, logins are on).
    pub fn start_with(dir: &Path, args: &[&str]) -> Server {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("server dir");
        Server::spawn(dir, args)
    }

    /// Starts on the database already in `dir`.
    pub fn spawn(dir: &Path, args: &[&str]) -> Server {
        let proc = Spawn::serve(binary())
            .arg("--allow-root")
            .args(args)
            .db(&dir.join("b.db"))
            .args(["--log", "info"])
            .deadline(DEADLINE)
            .start();
        Server {
            addr: proc.addr.clone(),
            proc,
            token: None,
        }
    }

    /// The last lines of its log (for a failure's message).
    pub fn log(&self) -> String {
        self.proc.log_tail(40)
    }

    pub fn pid(&self) -> i32 {
        self.proc.pid().as_raw()
    }

    /// A `/proc/PID/status` figure in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc/PID/status"))
    }

    pub fn rss_mib(&self) -> f64 {
        self.status_kib("VmRSS") as f64 / 1024.0
    }

    /// Creates a session running `command` in `/`; its id.
    pub fn create(&self, command: &str) -> String {
        let body = json!({ "command": command, "cwd": "/" }).to_string();
        let (status, answer) = request(&self.addr, "POST", "/api/sessions", &body);
        assert_eq!(status, 201, "create {command:?}: {answer}");
        answer["session"]["id"]
            .as_str()
            .expect("session id")
            .to_owned()
    }

    /// The store's count of output bytes it never received (its queue was full), from
    /// `GET /api/health`.
    pub fn dropped(&self) -> u64 {
        let (status, health) = request(&self.addr, "GET", "/api/health", "");
        assert_eq!(status, 200, "health: {health}");
        health["database"]["dropped_bytes"]
            .as_u64()
            .unwrap_or_else(|| panic!("no dropped_bytes in {health}"))
    }

    /// Attaches a WebSocket client from `from=0` and reads its `attached` frame.
    pub async fn attach(&self, id: &str) -> Ws {
        let tcp = tokio::net::TcpStream::connect(&self.addr)
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("nodelay"); // as browsers do
        let url = format!("ws://{}/api/sessions/{id}/attach?from=0", self.addr);
        let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
            .await
            .unwrap_or_else(|e| panic!("attach {id}: {e}: {}", self.log()));
        match tokio::time::timeout(DEADLINE, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("attached JSON");
                assert_eq!(v["type"], "attached", "{v}");
            }
            other => panic!("expected the attached frame first, got {other:?}"),
        }
        ws
    }
}

/// `METHOD path` with a JSON body (empty: none) over a fresh connection (`Connection: close`):
/// the status and the JSON answer.
pub fn request(addr: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    request_as(addr, None, method, path, body)
}

/// [`request`] with a bearer token.
pub fn request_as(
    addr: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = raw[end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, value)
}

/// The payload of a complete chunked body.
pub fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        if size == 0 || raw.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[(eol + 4 + size).min(raw.len())..];
    }
    out
}
