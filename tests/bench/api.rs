//! `cargo bench --bench api`: the network API measured from the outside, against the real
//! `lanterm serve` built in the release profile (`cargo build --release --bin lanterm` first;
//! `scripts/bench` does). Prints Markdown tables; asserts only correctness (equal byte counts
//! for clients of one session, echoes of the bytes sent), never speed.
//!
//! Figures (each the median of 3 runs, a fresh server per run):
//! 1. one WebSocket client's output throughput (64 MB of `x`, 64 MB of numbered lines) beside
//!    the raw PTY drain measured as `tests/bench/engine.rs` does, runs alternating;
//! 2. ten clients on one session that starts writing 16 MB once all ten are attached;
//! 3. keystroke echo latency through a raw-mode `cat`: 2000 rounds of one byte;
//! 4. the server's resident memory idle, with 10 sessions, with 100 attached clients.
//!
//! The client is this process (a tokio multi-thread runtime, tokio-tungstenite, a few lines of
//! HTTP/1.1 over `std::net::TcpStream`), on the same machine as the server: like PEERS.md's
//! measurements of ttyd and terminado, client and server share the cores.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lanterm::pty::SpawnSpec;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

const MB: f64 = 1_000_000.0;
const RUNS: usize = 3;
/// Size of each single-client workload.
const FLOOD: usize = 64_000_000;
/// Size of the shared-session workload.
const SHARED: usize = 16_000_000;
const CLIENTS: usize = 10;
const ROUNDS: usize = 2000;
/// Every wait on the server is bounded by this (a scenario run never takes this long).
const DEADLINE: Duration = Duration::from_secs(60);

type Ws = WebSocketStream<tokio::net::TcpStream>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The `target/release/lanterm` that `cargo build --release --bin lanterm` produced.
fn binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/lanterm");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --release --locked --bin lanterm` first (scripts/bench does)",
        bin.display()
    );
    bin
}

/// A real `lanterm serve` on 127.0.0.1 with a database of its own; SIGTERMed when dropped.
struct Server {
    child: Option<Child>,
    /// `127.0.0.1:PORT`
    addr: String,
    /// The last lines of its log (for a failure's message).
    log: Arc<Mutex<VecDeque<String>>>,
}

/// The address of a `... ready on http://127.0.0.1:PORT: database ...` log line.
fn ready_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("ready on http://")? + "ready on http://".len()..];
    let colon = rest.find(':')?;
    let port: String = rest[colon + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!port.is_empty()).then(|| format!("{}:{port}", &rest[..colon]))
}

impl Server {
    fn start(dir: &Path) -> Server {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("server dir");
        let mut child = Command::new(binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-auth",
                "--allow-root",
            ])
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
            log,
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => server.addr = addr,
            Err(e) => panic!("lanterm serve not ready ({e}): {}", server.log()),
        }
        server
    }

    fn log(&self) -> String {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(String::as_str)
            .collect()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// A `/proc/PID/status` figure in KiB (`VmRSS`, `VmHWM`).
    fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc/PID/status"))
    }

    fn rss_mib(&self) -> f64 {
        self.status_kib("VmRSS") as f64 / 1024.0
    }

    /// Creates a session running `command` in `/`; its id.
    fn create(&self, command: &str) -> String {
        let body = json!({ "command": command, "cwd": "/" }).to_string();
        let (status, answer) = post(&self.addr, "/api/sessions", &body);
        assert_eq!(status, 201, "create {command:?}: {answer}");
        answer["session"]["id"]
            .as_str()
            .expect("session id")
            .to_owned()
    }

    /// Attaches a WebSocket client from `from=0` and reads its `attached` frame.
    async fn attach(&self, id: &str) -> Ws {
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

/// `POST path` with a JSON body over a fresh connection (`Connection: close`): the status and
/// the JSON answer.
fn post(addr: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
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
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
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

/// What one client received up to the `exit` frame.
struct Received {
    bytes: u64,
    /// Bytes announced as `gap` (not delivered).
    gap: u64,
    exit_at: Instant,
}

/// Counts binary payload bytes until the `exit` frame, then waits for the close.
async fn count_to_exit(mut ws: Ws) -> Received {
    let mut bytes = 0u64;
    let mut gap = 0u64;
    let work = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => bytes += b.len() as u64,
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("text frame JSON");
                    match v["type"].as_str() {
                        Some("exit") => return Instant::now(),
                        Some("gap") => {
                            gap += v["to"].as_u64().unwrap_or(0) - v["from"].as_u64().unwrap_or(0)
                        }
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended before the exit frame: {other:?}"),
            }
        }
    };
    let exit_at = tokio::time::timeout(DEADLINE, work)
        .await
        .expect("exit frame within the deadline");
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    Received {
        bytes,
        gap,
        exit_at,
    }
}

/// Drains a PTY with nothing else, exactly as `tests/bench/engine.rs` does: the same spawn, the
/// same 16 KiB non-blocking reads, every byte discarded. MB/s.
async fn raw_drain(command: &str) -> f64 {
    let spec = SpawnSpec {
        program: "/bin/sh".into(),
        arg0: "sh".into(),
        args: vec!["-c".into(), command.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/".into(),
        cols: 80,
        rows: 24,
        credentials: None,
    };
    let start = Instant::now();
    let (pty, mut child) = lanterm::pty::spawn(&spec).expect("spawn");
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        match pty.read(&mut buf).await.expect("read") {
            0 => break,
            n => total += n as u64,
        }
    }
    child.wait().await.expect("wait");
    total as f64 / start.elapsed().as_secs_f64() / MB
}

/// One client's run of `command`: MB/s from the create request to the `exit` frame (the attach
/// follows the create at once), gap bytes, and the server's peak RSS in MiB.
fn one_client(rt: &tokio::runtime::Runtime, dir: &Path, command: &str) -> (f64, u64, u64, f64) {
    let server = Server::start(dir);
    let start = Instant::now();
    let id = server.create(command);
    let got = rt.block_on(async {
        let ws = server.attach(&id).await;
        count_to_exit(ws).await
    });
    let secs = got.exit_at.duration_since(start).as_secs_f64();
    let peak = server.status_kib("VmHWM") as f64 / 1024.0;
    (got.bytes as f64 / secs / MB, got.bytes, got.gap, peak)
}

/// Ten clients on one session that writes `file` once they are all attached (a newline sent
/// by the first client releases `read`). Aggregate MB/s, per-client bytes, gap bytes.
fn shared(rt: &tokio::runtime::Runtime, dir: &Path, file: &Path) -> (f64, Vec<u64>, u64) {
    let server = Server::start(dir);
    let id = server.create(&format!("read x; stty raw -echo; cat {}", file.display()));
    rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(server.attach(&id).await);
        }
        let start = Instant::now();
        clients[0]
            .send(Message::binary(b"\n".to_vec()))
            .await
            .expect("send the newline");
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|ws| tokio::spawn(count_to_exit(ws)))
            .collect();
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.expect("client task"));
        }
        let end = got.iter().map(|r| r.exit_at).max().expect("clients");
        let bytes: Vec<u64> = got.iter().map(|r| r.bytes).collect();
        let total: u64 = bytes.iter().sum();
        let gap = got.iter().map(|r| r.gap).sum();
        let secs = end.duration_since(start).as_secs_f64();
        (total as f64 / secs / MB, bytes, gap)
    })
}

/// Waits for the binary frame that holds `byte`; other frames are skipped.
async fn echo_of(ws: &mut Ws, byte: u8) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) if b.contains(&byte) => return,
            Ok(Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("no echo of {byte:#x}: {other:?}"),
        }
    }
}

/// Echo round trips through a raw-mode `cat`: p50 and p99 in µs, and the echoed bytes beyond
/// one per byte sent (0 when the terminal really was raw).
fn echo(rt: &tokio::runtime::Runtime, dir: &Path) -> (f64, f64, u64) {
    let server = Server::start(dir);
    let id = server.create("stty raw -echo; cat");
    rt.block_on(async {
        let mut ws = server.attach(&id).await;
        // Whatever comes before the first round (nothing, normally) is skipped: read until
        // 300 ms pass without a frame, which also leaves `stty` the time to have run.
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
            m.expect("frame before the rounds");
        }
        let byte = |i: usize| b'a' + (i % 26) as u8;
        // A few unrecorded rounds first (connection and task warm-up).
        for i in 0..20 {
            ws.send(Message::binary(vec![byte(i)])).await.expect("send");
            echo_of(&mut ws, byte(i)).await;
        }
        let mut rtts = Vec::with_capacity(ROUNDS);
        for i in 0..ROUNDS {
            let sent = Instant::now();
            ws.send(Message::binary(vec![byte(i)])).await.expect("send");
            echo_of(&mut ws, byte(i)).await;
            rtts.push(sent.elapsed().as_secs_f64() * 1e6);
        }
        // Anything more than the echoes would mean the terminal echoed too (not raw yet).
        let mut extra = 0u64;
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(Duration::from_millis(200), ws.next()).await
        {
            if let Message::Binary(b) = m {
                extra += b.len() as u64;
            }
        }
        rtts.sort_by(f64::total_cmp);
        let pct = |p: f64| rtts[((rtts.len() as f64 * p).ceil() as usize - 1).min(rtts.len() - 1)];
        (pct(0.50), pct(0.99), extra)
    })
}

/// The server's RSS in MiB: right after ready, with 10 `sleep` sessions, with 100 clients.
fn rss(rt: &tokio::runtime::Runtime, dir: &Path) -> [f64; 3] {
    let settle = || std::thread::sleep(Duration::from_millis(300));
    let server = Server::start(dir);
    settle();
    let idle = server.rss_mib();
    let ids: Vec<String> = (0..10).map(|_| server.create("sleep 1000")).collect();
    settle();
    let sessions = server.rss_mib();
    let clients = rt.block_on(async {
        let mut all = Vec::new();
        for id in &ids {
            for _ in 0..10 {
                all.push(server.attach(id).await);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss = server.rss_mib();
        drop(all);
        rss
    });
    [idle, sessions, clients]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("lanterm-bench-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let flood = dir.join("x.txt");
    std::fs::write(&flood, vec![b'x'; FLOOD]).expect("write flood");
    let lines = dir.join("lines.txt");
    let mut text = String::new();
    let mut n = 1u64;
    while text.len() < FLOOD {
        text.push_str(&n.to_string());
        text.push('\n');
        n += 1;
    }
    text.truncate(FLOOD);
    std::fs::write(&lines, &text).expect("write lines");
    let shared_file = dir.join("x16.txt");
    std::fs::write(&shared_file, vec![b'x'; SHARED]).expect("write shared");
    let srv = dir.join("srv");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut failures = Vec::new();

    println!("### One client: output throughput (MB/s = 10^6 bytes per second)\n");
    println!(
        "| workload | raw drain MB/s | 1 client MB/s | client / raw | bytes received | gap bytes | server peak RSS MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, file) in [
        ("x flood (64 MB of `x`)", &flood),
        ("numbered lines (64 MB)", &lines),
    ] {
        let command = format!("stty raw -echo; cat {}", file.display());
        let mut raws = Vec::new();
        let mut runs = Vec::new();
        // Raw and client runs alternate, so both see the same machine conditions.
        for _ in 0..RUNS {
            raws.push(rt.block_on(raw_drain(&command)));
            runs.push(one_client(&rt, &srv, &command));
        }
        let raw = median(raws);
        let mbps = median(runs.iter().map(|r| r.0).collect());
        let bytes = runs.iter().map(|r| r.1).min().unwrap_or(0);
        let gap = runs.iter().map(|r| r.2).max().unwrap_or(0);
        let peak = median(runs.iter().map(|r| r.3).collect());
        if runs.iter().any(|r| r.1 + r.2 != FLOOD as u64) {
            failures.push(format!("{name}: received + gap != {FLOOD} in some run"));
        }
        println!(
            "| {name} | {raw:.1} | {mbps:.1} | {:.0}% | {bytes} | {gap} | {peak:.1} |",
            mbps / raw * 100.0
        );
    }

    println!("\n### Ten clients on one session (16 MB of `x`)\n");
    println!(
        "| clients | aggregate MB/s | per client MB/s | bytes per client | same count for all | gap bytes |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(shared(&rt, &srv, &shared_file));
    }
    let agg = median(runs.iter().map(|r| r.0).collect());
    let same = runs
        .iter()
        .all(|r| r.1.iter().all(|&b| b == r.1[0]) && r.2 == 0);
    let counts: Vec<u64> = runs.iter().flat_map(|r| r.1.iter().copied()).collect();
    let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    let gap: u64 = runs.iter().map(|r| r.2).max().unwrap_or(0);
    if !same {
        failures.push(format!(
            "shared session: clients received {lo}..{hi} bytes, gaps {gap}"
        ));
    }
    let per_client = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}..{hi}")
    };
    println!(
        "| {CLIENTS} | {agg:.1} | {:.1} | {per_client} | {} | {gap} |",
        agg / CLIENTS as f64,
        if same { "yes" } else { "NO" }
    );

    println!("\n### Keystroke echo through raw-mode `cat` ({ROUNDS} rounds, µs)\n");
    println!("| rounds | p50 µs | p99 µs |");
    println!("| --- | --- | --- |");
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(echo(&rt, &srv));
    }
    if runs.iter().any(|r| r.2 != 0) {
        failures.push("echo: bytes beyond the echoes came back".into());
    }
    println!(
        "| {ROUNDS} | {:.0} | {:.0} |",
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect())
    );

    println!("\n### Server resident memory (VmRSS of the server process, MiB = 2^20 bytes)\n");
    println!("| state | server RSS MiB |");
    println!("| --- | --- |");
    let runs: Vec<[f64; 3]> = (0..RUNS).map(|_| rss(&rt, &srv)).collect();
    for (i, state) in [
        "idle, right after ready",
        "10 sessions running `sleep 1000`",
        "100 WebSocket clients attached (10 sessions × 10)",
    ]
    .iter()
    .enumerate()
    {
        let v = median(runs.iter().map(|r| r[i]).collect());
        println!("| {state} | {v:.1} |");
    }

    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "correctness: {failures:?}");
}
