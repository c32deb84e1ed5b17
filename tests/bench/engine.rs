//! `cargo bench --bench engine`: the session engine's throughput and disk writes, beside the raw
//! rate at which this machine can drain a PTY at all. Prints a Markdown table; asserts nothing.
//!
//! Workloads (each run 5 times, median reported):
//! - `x flood`: 64 MB of `x` (what the peers were measured with: docs/BENCHMARKS.md, "Peers");
//! - `numbered lines`: 64 MB of `seq` output (ordinary text);
//! - `trickle`: one short line every 10 ms for 5 s (an idle-ish build log; the worst case for
//!   bytes written per byte, since every flush commits a little).
//!
//! "raw drain" reads the same PTY the same way with nothing else (no ring, no store): the limit.
//! "engine" is a real session through the manager with default settings: PTY → ring → store.
//! "disk/out" is bytes the store's writer thread passed to `write(2)` (database, WAL and
//! checkpoints, from /proc/thread-self/io) per byte of terminal output.

#[path = "drain.rs"]
mod drain;

use drain::{MB, raw_drain};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lanterm::config::Config;
use lanterm::engine::CreateRequest;
use lanterm::engine::Manager;

const RUNS: usize = 5;

struct Workload {
    name: &'static str,
    /// A file whose contents the session prints (`None`: `command` produces the output).
    file: Option<PathBuf>,
    command: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn config(db: &Path) -> Config {
    let args: Vec<String> = [
        "--db",
        &db.display().to_string(),
        "--allow-root",
        "--log",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = BTreeMap::from([("HOME".to_string(), "/root".to_string())]);
    Config::load(&args, &env, nix::unistd::geteuid().as_raw()).expect("config")
}

struct EngineRun {
    mbps: f64,
    disk_per_byte: f64,
    dropped: u64,
}

/// One session through the engine: time from create to exit, then disk bytes once committed.
async fn engine_run(dir: &Path, w: &Workload, i: usize) -> EngineRun {
    let db = dir.join(format!("bench-{}-{i}.db", w.name.replace(' ', "-")));
    let m = Manager::start(&config(&db)).expect("engine");
    let before = m.health().disk_write_bytes;
    let start = Instant::now();
    let info = m
        .create(CreateRequest {
            command: Some(w.command.clone()),
            cwd: Some("/".into()),
            ..CreateRequest::default()
        })
        .await
        .expect("create");
    let session = m.session(info.id.as_str()).expect("session");
    let mut tail = session.watch();
    tail.wait_for(|t| !t.running).await.expect("session ends");
    let elapsed = start.elapsed().as_secs_f64();
    let out = m.get(info.id.as_str()).expect("info").output_bytes;
    // Counted after shutdown: its final checkpoint copies the WAL into the database.
    m.shutdown().await;
    let health = m.health();
    EngineRun {
        mbps: out as f64 / elapsed / MB,
        disk_per_byte: (health.disk_write_bytes - before) as f64 / out as f64,
        dropped: health.dropped_bytes,
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("lanterm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let flood = dir.join("x.txt");
    std::fs::write(&flood, vec![b'x'; 64_000_000]).expect("write flood");
    let lines = dir.join("lines.txt");
    let mut text = String::new();
    let mut n = 1u64;
    while text.len() < 64_000_000 {
        text.push_str(&n.to_string());
        text.push('\n');
        n += 1;
    }
    text.truncate(64_000_000);
    std::fs::write(&lines, &text).expect("write lines");
    let raw_cat = |f: &Path| format!("stty raw -echo; cat {}", f.display());
    let workloads = [
        Workload { name: "x flood", command: raw_cat(&flood), file: Some(flood.clone()) },
        Workload { name: "numbered lines", command: raw_cat(&lines), file: Some(lines.clone()) },
        Workload {
            name: "trickle",
            command: "i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo \"[$i] compiling module $i\"; sleep 0.01; done".into(),
            file: None,
        },
    ];
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "| workload | raw drain MB/s | engine MB/s | engine / raw | disk bytes per output byte | bytes dropped |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for w in &workloads {
        // Raw and engine runs alternate, so both see the same machine conditions.
        let mut raws = Vec::new();
        let mut runs = Vec::new();
        for i in 0..RUNS {
            if w.file.is_some() {
                raws.push(rt.block_on(raw_drain(&w.command)));
            }
            runs.push(rt.block_on(engine_run(&dir, w, i)));
        }
        let raw = (!raws.is_empty()).then(|| median(raws));
        let mbps = median(runs.iter().map(|r| r.mbps).collect());
        let disk = median(runs.iter().map(|r| r.disk_per_byte).collect());
        let dropped = runs.iter().map(|r| r.dropped).max().unwrap_or(0);
        let (raw_s, ratio) = match raw {
            Some(r) => (format!("{r:.1}"), format!("{:.0}%", mbps / r * 100.0)),
            None => ("—".into(), "—".into()),
        };
        let mbps_s = match w.file {
            Some(_) => format!("{mbps:.1}"),
            None => "paced".into(),
        };
        println!(
            "| {} | {raw_s} | {mbps_s} | {ratio} | {disk:.2} | {dropped} |",
            w.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
