//! `cargo bench --bench api`: the network API measured from the outside, against the real
//! `lanterm serve` built in the release profile (`cargo build --release --bin lanterm` first;
//! `scripts/bench` does). Prints Markdown tables; asserts only correctness, never speed: every
//! output offset reached each client, as bytes or inside a `gap` frame, and the raw-mode `cat`
//! echoed each byte once. Whether the clients of one session got the same bytes (they do unless
//! a `gap` came) is reported, not asserted: the contract allows gaps.
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

#[path = "drain.rs"]
mod drain;
#[path = "echo.rs"]
mod echo;
#[path = "server.rs"]
mod server;

use drain::{MB, raw_drain};
use echo::{echo, raw_echo};
use server::{DEADLINE, Server, Ws};
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const RUNS: usize = 3;
/// Size of each single-client workload.
const FLOOD: usize = 64_000_000;
/// Size of the shared-session workload.
const SHARED: usize = 16_000_000;
const CLIENTS: usize = 10;
const ROUNDS: usize = 2000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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

/// One client's run of a flood.
struct FloodRun {
    /// Delivered bytes per second, MB/s.
    mbps: f64,
    bytes: u64,
    gap: u64,
    /// The store's `dropped_bytes` after the run.
    dropped: u64,
    /// The server's peak RSS (`VmHWM`), MiB.
    peak_mib: f64,
}

/// One client on a fresh server: time from the create request to the `exit` frame (the attach
/// follows the create at once, from offset 0).
fn one_client(rt: &tokio::runtime::Runtime, dir: &Path, command: &str) -> FloodRun {
    let server = Server::start(dir);
    let start = Instant::now();
    let id = server.create(command);
    let got = rt.block_on(async {
        let ws = server.attach(&id).await;
        count_to_exit(ws).await
    });
    let secs = got.exit_at.duration_since(start).as_secs_f64();
    FloodRun {
        mbps: got.bytes as f64 / secs / MB,
        bytes: got.bytes,
        gap: got.gap,
        dropped: server.dropped(),
        peak_mib: server.status_kib("VmHWM") as f64 / 1024.0,
    }
}

/// Ten clients on one session.
struct SharedRun {
    /// All clients' delivered bytes per second, MB/s.
    mbps: f64,
    /// Delivered bytes, per client.
    bytes: Vec<u64>,
    /// Gap bytes, per client.
    gaps: Vec<u64>,
    dropped: u64,
}

/// Ten clients on one session that writes `file` once they are all attached (a newline sent
/// by the first client releases `read`); time from that newline to the last `exit` frame.
fn shared(rt: &tokio::runtime::Runtime, dir: &Path, file: &Path) -> SharedRun {
    let server = Server::start(dir);
    let id = server.create(&format!("read x; stty raw -echo; cat {}", file.display()));
    let (mbps, got) = rt.block_on(async {
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
        let total: u64 = got.iter().map(|r| r.bytes).sum();
        let secs = end.duration_since(start).as_secs_f64();
        (total as f64 / secs / MB, got)
    });
    SharedRun {
        mbps,
        bytes: got.iter().map(|r| r.bytes).collect(),
        gaps: got.iter().map(|r| r.gap).collect(),
        dropped: server.dropped(),
    }
}

/// The server's RSS in MiB: 300 ms after ready, with 10 `sleep` sessions, with 100 clients.
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
    // Broken invariants, reported after all tables are printed.
    let mut failures = Vec::new();

    println!("### One client: output throughput (MB/s = 10^6 bytes per second)\n");
    println!(
        "| workload | raw drain MB/s | 1 client MB/s | client / raw | output delivered | runs with a gap | gap bytes, worst run | store dropped bytes, worst run | server peak RSS MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
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
        for r in &runs {
            if r.bytes + r.gap != FLOOD as u64 {
                failures.push(format!("{name}: {} delivered + {} gap", r.bytes, r.gap));
            }
        }
        let raw = median(raws);
        let mbps = median(runs.iter().map(|r| r.mbps).collect());
        let delivered = median(runs.iter().map(|r| r.bytes as f64).collect()) / FLOOD as f64;
        let gapped = runs.iter().filter(|r| r.gap > 0).count();
        let gap = runs.iter().map(|r| r.gap).max().unwrap_or(0);
        let dropped = runs.iter().map(|r| r.dropped).max().unwrap_or(0);
        let peak = median(runs.iter().map(|r| r.peak_mib).collect());
        println!(
            "| {name} | {raw:.1} | {mbps:.1} | {:.0}% | {:.1}% | {gapped} of {RUNS} | {gap} | {dropped} | {peak:.1} |",
            mbps / raw * 100.0,
            delivered * 100.0
        );
    }

    println!("\n### Ten clients on one session (16 MB of `x`, MB/s = 10^6 bytes per second)\n");
    println!(
        "| clients | aggregate MB/s | per client MB/s | runs where all clients got the same bytes | bytes per client (all runs) | gap bytes, worst client | store dropped bytes, worst run |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let runs: Vec<SharedRun> = (0..RUNS).map(|_| shared(&rt, &srv, &shared_file)).collect();
    let expected = SHARED as u64 + 2; // the newline's echo (`\r\n`) before `stty raw -echo`
    for r in &runs {
        for (b, g) in r.bytes.iter().zip(&r.gaps) {
            if b + g != expected {
                failures.push(format!("shared: {b} delivered + {g} gap != {expected}"));
            }
        }
    }
    let agg = median(runs.iter().map(|r| r.mbps).collect());
    let same = runs
        .iter()
        .filter(|r| r.bytes.iter().all(|&b| b == r.bytes[0]))
        .count();
    let lo = runs.iter().flat_map(|r| r.bytes.iter()).min().copied();
    let hi = runs.iter().flat_map(|r| r.bytes.iter()).max().copied();
    let counts = if lo == hi {
        format!("{}", lo.unwrap_or(0))
    } else {
        format!("{}..{}", lo.unwrap_or(0), hi.unwrap_or(0))
    };
    let gap = runs.iter().flat_map(|r| r.gaps.iter()).max().copied();
    let dropped = runs.iter().map(|r| r.dropped).max().unwrap_or(0);
    println!(
        "| {CLIENTS} | {agg:.1} | {:.1} | {same} of {RUNS} | {counts} | {} | {dropped} |",
        agg / CLIENTS as f64,
        gap.unwrap_or(0)
    );

    println!("\n### Keystroke echo through raw-mode `cat` ({ROUNDS} rounds, µs)\n");
    println!("| path | p50 µs | p99 µs |");
    println!("| --- | --- | --- |");
    let mut raws = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        raws.push(rt.block_on(raw_echo()));
        runs.push(echo(&rt, &srv));
    }
    if runs.iter().any(|r| r.2 != 0) {
        failures.push("echo: bytes beyond the echoes came back".into());
    }
    println!(
        "| raw PTY (write the master, read it back) | {:.0} | {:.0} |",
        median(raws.iter().map(|r| r.0).collect()),
        median(raws.iter().map(|r| r.1).collect())
    );
    println!(
        "| WebSocket client → lanterm → PTY → lanterm → client | {:.0} | {:.0} |",
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
