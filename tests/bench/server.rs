//! The real `lanterm serve` for the benchmarks (`target/release/lanterm`), and a few lines of
//! HTTP/1.1 to talk to it. Shared by `api.rs` and `auth.rs`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
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
    child: Option<Child>,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// A bearer token sent with [`Server::get`], once logged in.
    pub token: Option<String>,
    /// The last lines of its log (for a failure's message).
    log: Arc<Mutex<VecDeque<String>>>,
}

/// The address of a `... ready on http://127.0.0.1:PORT: database ...` log line.
pub fn ready_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("ready on http://")? + "ready on http://".len()..];
    let colon = rest.find(':')?;
    let port: String = rest[colon + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!port.is_empty()).then(|| format!("{}:{port}", &rest[..colon]))
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
        let mut child = Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--allow-root"])
            .args(args)
            .arg("--db")
            .arg(dir.join("b.db"))
            .args(["--log", "info"])
            .env_clear()
            .env("HOME", "/root")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lanterm serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let sink = log.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        // Drains the log for the server's whole life, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut tx = Some(tx);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line).into_owned();
                if let Some(addr) = ready_addr(&text)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_back(text);
                if log.len() > 40 {
                    log.pop_front();
                }
                line.clear();
            }
        });
        let mut server = Server {
            child: Some(child),
            addr: String::new(),
            token: None,
            log,
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => server.addr = addr,
            Err(e) => panic!("lanterm serve not ready ({e}): {}", server.log()),
        }
        server
    }

    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(String::as_str)
            .collect()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
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

impl Drop for Server {
    /// SIGTERM, then waits (SIGKILL after 10 s: the contract says it exits within 5).
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let sent = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if sent.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
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
