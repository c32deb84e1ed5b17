//! Keystroke echo latency for `cargo bench --bench api` (figure 3): round trips of one byte
//! through a raw-mode `cat`, on a bare PTY and through the server and one WebSocket client.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lanterm::engine::pty::SpawnSpec;
use tokio_tungstenite::tungstenite::Message;

use super::ROUNDS;
use super::server::{Server, Ws};

/// The `p` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Echo round trips on a PTY with nothing else (the same `pty::spawn` as the raw drain, a
/// raw-mode `cat`): one byte written to the master, read back. p50 and p99 in µs.
pub async fn raw_echo() -> (f64, f64) {
    let spec = SpawnSpec {
        program: "/bin/sh".into(),
        arg0: "sh".into(),
        args: vec!["-c".into(), "stty raw -echo; printf R; exec cat".into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/".into(),
        cols: 80,
        rows: 24,
        credentials: None,
    };
    let (pty, mut child) = lanterm::engine::pty::spawn(&spec).expect("spawn");
    let mut buf = vec![0u8; 16 * 1024];
    let read_until = async |pty: &lanterm::engine::pty::Pty, buf: &mut [u8], byte: u8| {
        let work = async {
            loop {
                let n = pty.read(buf).await.expect("read");
                assert!(n > 0, "cat ended");
                if buf[..n].contains(&byte) {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), work)
            .await
            .expect("echo within 5 s");
    };
    // `R` comes once the terminal is raw.
    read_until(&pty, &mut buf, b'R').await;
    let byte = |i: usize| b'a' + (i % 26) as u8;
    let mut rtts = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS + 20 {
        let sent = Instant::now();
        pty.write_all(&[byte(i)]).await.expect("write");
        read_until(&pty, &mut buf, byte(i)).await;
        if i >= 20 {
            rtts.push(sent.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(pty);
    let _ = child.kill().await;
    rtts.sort_by(f64::total_cmp);
    (quantile(&rtts, 0.50), quantile(&rtts, 0.99))
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

/// Echo round trips through a raw-mode `cat` session and one client: p50 and p99 in µs, and
/// the bytes that came back beyond one per byte sent (0 when the terminal really was raw).
pub fn echo(rt: &tokio::runtime::Runtime, dir: &Path) -> (f64, f64, u64) {
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
        let mut rtts = Vec::with_capacity(ROUNDS);
        // 20 unrecorded rounds first (connection and task warm-up).
        for i in 0..ROUNDS + 20 {
            let sent = Instant::now();
            ws.send(Message::binary(vec![byte(i)])).await.expect("send");
            echo_of(&mut ws, byte(i)).await;
            if i >= 20 {
                rtts.push(sent.elapsed().as_secs_f64() * 1e6);
            }
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
        (quantile(&rtts, 0.50), quantile(&rtts, 0.99), extra)
    })
}
