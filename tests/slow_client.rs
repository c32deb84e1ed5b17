//! A client that never reads cannot grow the server's memory or slow anyone else: while a
//! session writes 200 MiB, the server stays under 64 MiB of RSS, a reading client gets every
//! byte, and the stuck client is closed.

mod common;
#[path = "common/server.rs"]
mod server;

use std::time::Duration;

use futures_util::StreamExt;
use server::{Client, Server, ws_connect};
use tokio_tungstenite::tungstenite::Message;

const TOTAL: u64 = 200 * 1024 * 1024;

/// Resident memory of a process, from /proc/PID/status.
fn rss_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_costs_bounded_memory_and_slows_no_one() {
    // The reader may fall behind the PTY by more than the ring; a history cap above the whole
    // output lets the store serve it, so "intact" means every byte, in order.
    let s = Server::start(&[
        "--client-timeout",
        "2s",
        "--history-bytes",
        "256MiB",
        "--store-max-bytes",
        "512MiB",
    ]);
    let pid = s.pid().as_raw();
    // The session waits for a newline, so both clients are attached before it writes.
    let id = s.run(&format!(
        "read go; stty raw -echo; head -c {TOTAL} /dev/zero | tr '\\0' x"
    ));
    let mut stuck = ws_connect(&s.addr, &format!("/api/sessions/{id}/attach?from=0"))
        .await
        .expect("the stuck client attaches");
    let _ = stuck.next().await; // its `attached` frame, then it never reads again
    let mut reader = Client::attach(&s.addr, &id, "from=0").await;
    reader.send_bytes(b"\n").await;

    let sampler = tokio::spawn(async move {
        let mut max = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        loop {
            tick.tick().await;
            let rss = rss_bytes(pid);
            if rss == 0 {
                return max; // the server is gone
            }
            max = max.max(rss);
        }
    });

    // The reading client: every offset accounted for exactly once, in order, by output (all
    // `x`) or by a `gap` frame, then `exit`; and since the store keeps every byte (the session
    // is slowed to what the disk takes, never dropped), there is no gap at all.
    let mut offset = 0u64;
    let mut gaps = 0u64;
    let mut exit = false;
    let ws = reader.ws_mut();
    let read_all = async {
        while let Some(msg) = ws.next().await {
            match msg.expect("the reading client's stream") {
                Message::Binary(b) => {
                    // The newline that started it is echoed first (the tty was not raw yet).
                    let b = match offset {
                        0 => b.strip_prefix(b"\r\n").unwrap_or(&b).to_vec(),
                        _ => b.to_vec(),
                    };
                    assert!(b.iter().all(|&c| c == b'x'), "unexpected bytes at {offset}");
                    offset += b.len() as u64;
                }
                Message::Text(t) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    match v["type"].as_str() {
                        Some("gap") => {
                            let (from, to) =
                                (v["from"].as_u64().unwrap(), v["to"].as_u64().unwrap());
                            // Offsets count the echoed newline; ours do not.
                            assert_eq!(from, offset + 2, "a gap starts where the output stopped");
                            assert!(to > from);
                            gaps += to - from;
                            offset = to - 2;
                        }
                        Some("exit") => exit = true,
                        _ => {}
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read_all)
        .await
        .expect("the reading client gets everything in time");
    assert_eq!(
        offset, TOTAL,
        "the reading client's stream covers every offset"
    );
    assert!(exit, "the reading client saw the exit frame");
    eprintln!(
        "reading client: {} bytes of output, {gaps} in gaps",
        TOTAL - gaps
    );

    // The stuck client was closed by the server (its socket reports the end once read).
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(msg) = stuck.next().await {
            if msg.is_err() {
                break;
            }
        }
    });
    drained
        .await
        .expect("the stuck client's connection was closed");

    let health = s.get("/api/health").json();
    assert_eq!(health["database"]["dropped_bytes"], 0, "{health}");
    let mut s = s;
    let (status, _) = s.terminate();
    assert!(status.success());
    let max_rss = sampler.await.unwrap();
    assert!(
        max_rss < 64 * 1024 * 1024,
        "server RSS peaked at {} MiB",
        max_rss / (1024 * 1024)
    );
}
