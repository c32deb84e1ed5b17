//! `cargo bench --bench flash`: what lanterm writes to the SD card per byte of terminal output,
//! with default settings (5 s flush, LZ4 on) and with compression off, for the workloads a
//! board sees. Prints a Markdown table; asserts nothing.
//!
//! Workloads (real sessions on real PTYs through the manager, one database each):
//! - `build log`: 5000 lines of compiler output, 25 lines every 20 ms (a build scrolling by);
//! - `top`: interactive `top` at 120x40 redrawing every 0.5 s, 40 frames;
//! - `yes flood`: 64 MB of `yes` as fast as the PTY goes;
//! - `mix`: the three at once in one database;
//! - `trickle`: a shell printing one short line a second for 20 s, alone, and `trickle,
//!   watched` the same with a client attached (output a client has seen is committed soon after
//!   it goes quiet: `--commit-idle`);
//! - `idle`: a running shell that prints nothing for `FLASH_IDLE_SECS` (default 30) after its
//!   first commit: the bytes written in that window (target: none at all).
//!
//! "disk" is what the store's writer thread passed to `write(2)` (database, WAL, checkpoints;
//! `/proc/thread-self/io`), counted after shutdown's final checkpoint. "stored" is the output
//! table's payload (compressed sizes). Arguments pick workloads by a word of their name
//! (`cargo bench --bench flash -- yes top idle`); `FLASH_COMPRESS_ONLY=1` skips the runs with
//! compression off (what `scripts/test` does to stay short).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use lanterm::config::Config;
use lanterm::engine::CreateRequest;
use lanterm::engine::Manager;

fn config(db: &Path, compress: bool) -> Config {
    let mut args: Vec<String> = vec!["--db".into(), db.display().to_string()];
    args.extend(["--allow-root", "--log", "warn"].map(String::from));
    if !compress {
        args.push("--compress=off".into());
    }
    let env = BTreeMap::from([("HOME".to_string(), "/root".to_string())]);
    Config::load(&args, &env, nix::unistd::geteuid().as_raw()).expect("config")
}

/// A deterministic build log: cargo and kernel-style lines, with an occasional warning.
fn build_log(lines: usize) -> String {
    let crates = [
        "serde", "tokio", "hyper", "rusqlite", "nix", "heapless", "log", "bytes",
    ];
    let dirs = [
        "net/wireless/ath",
        "gpu/drm/vc4",
        "usb/dwc2",
        "mmc/host",
        "spi",
        "i2c/busses",
    ];
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = String::new();
    for i in 0..lines {
        let r = next();
        let line = match r % 10 {
            0 => format!(
                "   Compiling {} v1.{}.{} (/home/pi/src/{})\n",
                crates[(r >> 8) as usize % crates.len()],
                (r >> 16) % 40,
                (r >> 24) % 20,
                i % 97
            ),
            1 => format!(
                "warning: unused variable: `buf_{}`\n  --> src/parse_{}.rs:{}:{}\n   |\n{:4} |     let buf_{} = Vec::with_capacity(n);\n   |         ^^^^^ help: prefix it with an underscore\n\n",
                r % 1000,
                i % 53,
                (r >> 20) % 900,
                (r >> 30) % 60,
                (r >> 20) % 900,
                r % 1000
            ),
            _ => format!(
                "  CC [M]  drivers/{}/{}_{:x}.o\n",
                dirs[(r >> 8) as usize % dirs.len()],
                ["core", "main", "hw", "phy", "dma", "irq"][(r >> 12) as usize % 6],
                r >> 44
            ),
        };
        out.push_str(&line);
    }
    out
}

struct Workload {
    name: &'static str,
    command: String,
}

struct Run {
    output: u64,
    stored: u64,
    disk: u64,
    commits: u64,
}

fn stored_bytes(db: &Path) -> u64 {
    let conn = rusqlite::Connection::open(db).expect("open the bench database");
    conn.query_row(
        "SELECT COALESCE(SUM(length(data)), 0) FROM output",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .unwrap_or(0)
}

fn create(command: &str) -> CreateRequest {
    CreateRequest {
        command: Some(command.to_owned()),
        cwd: Some("/".into()),
        cols: Some(120),
        rows: Some(40),
        ..CreateRequest::default()
    }
}

/// Runs the commands at once in one fresh database until all exit (each with a client
/// attached if `watched`); totals after shutdown.
async fn run(db: &Path, commands: &[&str], compress: bool, watched: bool) -> Run {
    let m = Manager::start(&config(db, compress)).expect("engine");
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for c in commands {
        let id = m.create(create(c)).await.expect("create").id;
        if watched {
            clients.push(m.attach(id.as_str(), 16).expect("attach"));
        }
        ids.push(id);
    }
    let mut output = 0;
    for id in &ids {
        let session = m.session(id.as_str()).expect("session");
        let mut tail = session.watch();
        tail.wait_for(|t| !t.running).await.expect("session ends");
        output += m.get(id.as_str()).expect("info").output_bytes;
    }
    drop(clients);
    m.shutdown().await;
    let health = m.health();
    Run {
        output,
        stored: stored_bytes(db),
        disk: health.disk_write_bytes,
        commits: health.commits,
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Bytes written while a running session prints nothing for `secs`, after its first commit;
/// and whether the database and WAL files were modified in that time.
async fn idle(db: &Path, secs: u64) -> (u64, bool) {
    let m = Manager::start(&config(db, true)).expect("engine");
    let info = m.create(create("exec sleep 100000")).await.expect("create");
    m.store().flush().await.expect("flush");
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let before = (m.health().disk_write_bytes, mtime(db), mtime(&wal));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = (m.health().disk_write_bytes, mtime(db), mtime(&wal));
    let touched = before.1 != after.1 || before.2 != after.2;
    let _ = m.stop(info.id.as_str(), None);
    m.shutdown().await;
    (after.0 - before.0, touched)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("lanterm-flash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let log = dir.join("build.log");
    std::fs::write(&log, build_log(5000)).expect("write the build log");
    let build = format!(
        "n=0; while IFS= read -r l; do printf '%s\\n' \"$l\"; n=$((n+1)); \
         [ $((n % 25)) -eq 0 ] && sleep 0.02; done < {}",
        log.display()
    );
    let top = "TERM=xterm-256color exec top -d 0.5 -n 40".to_owned();
    let yes = "stty raw -echo; yes | head -c 64000000".to_owned();
    let workloads = [
        Workload {
            name: "build log",
            command: build.clone(),
        },
        Workload {
            name: "top",
            command: top.clone(),
        },
        Workload {
            name: "yes flood",
            command: yes.clone(),
        },
    ];
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| picked.is_empty() || picked.iter().any(|p| name.contains(p.as_str()));
    let compress_only = std::env::var_os("FLASH_COMPRESS_ONLY").is_some();
    let idle_secs: u64 = std::env::var("FLASH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    println!(
        "| workload | output bytes | stored (LZ4) | commits | disk bytes (LZ4) | disk / output, LZ4 | disk / output, no compression | time |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut n = 0;
    let mut measure = |name: &str, commands: &[&str], watched: bool| {
        n += 1;
        let started = Instant::now();
        let on = rt.block_on(run(
            &dir.join(format!("on-{n}.db")),
            commands,
            true,
            watched,
        ));
        let off = (!compress_only).then(|| {
            rt.block_on(run(
                &dir.join(format!("off-{n}.db")),
                commands,
                false,
                watched,
            ))
        });
        let off = off.map_or("—".into(), |r| {
            format!("{:.3}", r.disk as f64 / r.output as f64)
        });
        println!(
            "| {name} | {} | {} | {} | {} | **{:.3}** | {off} | {:.0} s |",
            on.output,
            on.stored,
            on.commits,
            on.disk,
            on.disk as f64 / on.output as f64,
            started.elapsed().as_secs_f64()
        );
    };
    for w in &workloads {
        if wanted(w.name) {
            measure(w.name, &[w.command.as_str()], false);
        }
    }
    if wanted("mix") {
        measure(
            "mix (the three at once)",
            &[build.as_str(), top.as_str(), yes.as_str()],
            false,
        );
    }
    let trickle = "for i in $(seq 20); do echo \"line $i of the trickle\"; sleep 1; done";
    if wanted("trickle") {
        measure("trickle: a line a second, 20 s", &[trickle], false);
        measure("trickle, watched by a client", &[trickle], true);
    }
    if wanted("idle") {
        let (bytes, touched) = rt.block_on(idle(&dir.join("idle.db"), idle_secs));
        let files = if touched { "modified" } else { "untouched" };
        println!(
            "| idle: a running shell, no output, {idle_secs} s | 0 | — | 0 | {bytes} (files {files}) | — | — | {idle_secs} s |"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
