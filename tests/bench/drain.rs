//! Shared by the benchmarks: the raw PTY drain, the limit every throughput figure is read
//! against.

use std::time::Instant;

use lanterm::engine::pty::SpawnSpec;

pub const MB: f64 = 1_000_000.0;

/// Drains a PTY with nothing else: `sh -c COMMAND` spawned exactly as sessions are, read with
/// the same 16 KiB non-blocking reads as the engine's, every byte discarded. MB/s.
pub async fn raw_drain(command: &str) -> f64 {
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
    let (pty, mut child) = lanterm::engine::pty::spawn(&spec).expect("spawn");
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
