//! Upgrades (SIGUSR2) against the real release binary: how long a terminal stops answering.
//!
//! A client types into a raw `cat` session and sees the echo; SIGUSR2; the server closes it
//! (1001); it reconnects at once (the connection waits in the listening socket's queue), resumes
//! at its offset, types again and times the echo. With 1 and 32 running sessions. Also the
//! server's own view: from its `SIGUSR2` log line to the new program's `ready` line.
//!
//! Run with `cargo bench --bench upgrade` after `cargo build --release --bin lanterm`.

#[path = "server.rs"]
mod server;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use server::{DEADLINE, Server, Ws};
use tokio_tungstenite::tungstenite::Message;

const ROUNDS: usize = 7;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("### Upgrade: SIGUSR2 with sessions running ({ROUNDS} rounds per row)\n");
    println!(
        "| running sessions | typing answers again, median ms | slowest ms | server: SIGUSR2 to new program ready, median ms | output exactly what was typed |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for sessions in [1, 32] {
        runtime.block_on(row(sessions));
    }
}

async fn row(sessions: usize) {
    let dir = std::env::temp_dir().join(format!(
        "lanterm-bench-upgrade-{}-{sessions}",
        std::process::id()
    ));
    let server = Server::start(&dir);
    // `R` once the terminal is raw: typing before that would be echoed by the terminal too.
    let id = server.create("stty raw -echo; printf R; cat");
    for _ in 1..sessions {
        server.create("sleep 600");
    }
    let mut echoed = Vec::new();
    let mut answers = Vec::new();
    let mut ready = Vec::new();
    let mut ws = attach(&server.addr, &id, 0).await;
    while echoed.is_empty() {
        if let Message::Binary(b) = next(&mut ws).await {
            echoed.extend_from_slice(&b);
        }
    }
    for round in 0..ROUNDS {
        let key = [b'a' + round as u8];
        type_and_wait(&mut ws, &key, &mut echoed).await;
        let sent = Instant::now();
        kill(Pid::from_raw(server.pid()), Signal::SIGUSR2).expect("SIGUSR2");
        expect_close(&mut ws).await;
        ws = attach(&server.addr, &id, echoed.len() as u64).await;
        type_and_wait(&mut ws, b"+", &mut echoed).await;
        answers.push(sent.elapsed().as_secs_f64() * 1000.0);
        ready.push(server_view(&server));
    }
    let mut expected = b"R".to_vec();
    expected.extend((0..ROUNDS).flat_map(|r| [b'a' + r as u8, b'+']));
    let (status, body) = server::request(&server.addr, "GET", &format!("/api/sessions/{id}"), "");
    assert_eq!(status, 200, "{body}");
    let stored = body["session"]["output_bytes"].as_u64().unwrap_or(0) as usize;
    let exact = if echoed == expected && stored == expected.len() {
        "yes"
    } else {
        "NO"
    };
    let slowest = answers.iter().copied().fold(0.0, f64::max);
    println!(
        "| {sessions} | {:.1} | {slowest:.1} | {:.1} | {exact} |",
        median(answers),
        median(ready)
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn attach(addr: &str, id: &str, from: u64) -> Ws {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let url = format!("ws://{addr}/api/sessions/{id}/attach?from={from}");
    let (mut ws, _) = tokio::time::timeout(DEADLINE, tokio_tungstenite::client_async(url, tcp))
        .await
        .expect("attach in time")
        .expect("attach");
    match next(&mut ws).await {
        Message::Text(t) => {
            let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
            assert_eq!(v["type"], "attached", "{v}");
        }
        other => panic!("expected the attached frame, got {other:?}"),
    }
    ws
}

async fn next(ws: &mut Ws) -> Message {
    match tokio::time::timeout(DEADLINE, ws.next()).await {
        Ok(Some(Ok(m))) => m,
        other => panic!("no frame: {other:?}"),
    }
}

/// Sends `key` and reads output until it has come back.
async fn type_and_wait(ws: &mut Ws, key: &[u8], echoed: &mut Vec<u8>) {
    ws.send(Message::binary(key.to_vec())).await.expect("send");
    let want = echoed.len() + key.len();
    while echoed.len() < want {
        if let Message::Binary(b) = next(ws).await {
            echoed.extend_from_slice(&b);
        }
    }
}

async fn expect_close(ws: &mut Ws) {
    loop {
        match tokio::time::timeout(DEADLINE, ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => {
                let code = f.map(|f| u16::from(f.code));
                assert_eq!(code, Some(1001), "close code");
                return;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Milliseconds from the server's last `SIGUSR2` log line to the `ready on` line after it, by
/// the log's own timestamps (waits for that line).
fn server_view(server: &Server) -> f64 {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let log = server.log();
        let lines: Vec<&str> = log.lines().collect();
        if let Some(i) = lines.iter().rposition(|l| l.contains("SIGUSR2"))
            && let Some(ready) = lines[i..].iter().find(|l| l.contains("ready on"))
            && let (Some(start), Some(end)) = (millis_of_day(lines[i]), millis_of_day(ready))
        {
            return end - start;
        }
        assert!(Instant::now() < deadline, "no ready line: {log}");
        std::thread::sleep(Duration::from_millis(5)); // another process's log: no event
    }
}

/// `2026-11-22T08:40:23.529Z INFO ...` → milliseconds since midnight.
fn millis_of_day(line: &str) -> Option<f64> {
    let time = line.split('T').nth(1)?.split('Z').next()?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
