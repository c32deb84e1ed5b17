//! `cargo bench --bench startup`: how long the release binary takes from `exec` to `READY=1` on
//! systemd's notify socket, with an empty database and with 1000 ended sessions in it (small
//! and large output; target under 100 ms), and the server's resident memory idle and with 32
//! running sessions. Start-up is timed with the database in the page cache and with its pages
//! evicted first (`posix_fadvise(DONTNEED)`: what a start after a reboot reads from the disk). Plays
//! systemd with a datagram socket in `NOTIFY_SOCKET`. Prints Markdown tables; asserts nothing.
//! Start-up runs with logins on and a password set, as installed; the memory runs with
//! `--no-auth`, so no login's Argon2 memory is counted.
//!
//! Binaries: `target/release/lanterm` (glibc, `cargo build --release`) and
//! `target/x86_64-unknown-linux-musl/release/lanterm` (static musl, `scripts/dist`), each if
//! built; `LANTERM_BENCH_BIN=PATH` measures that one instead.

#[path = "server.rs"]
mod server;

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lanterm::config::Config;
use lanterm::engine::{CreateRequest, Manager};
use serde_json::json;
use server::spawn::{Running, Spawn};

const ENDED_SESSIONS: usize = 1000;
const RUNS: usize = 9;
const RUNNING_SESSIONS: usize = 32;
const PASSWORD: &str = "bench password 1";
const DEADLINE: Duration = Duration::from_secs(60);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Fills `db` with `ENDED_SESSIONS` sessions that ran `command` and ended (through the engine
/// itself, as the service records them), 32 at a time.
fn fill(db: &Path, command: &str) {
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
    let config = Config::load(&args, &env, 0).expect("config");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let manager = Manager::start(&config).expect("engine");
        let mut made = 0;
        while made < ENDED_SESSIONS {
            let batch = (ENDED_SESSIONS - made).min(RUNNING_SESSIONS);
            let mut waits = Vec::new();
            for i in 0..batch {
                let req = CreateRequest {
                    name: Some(format!("job {}", made + i)),
                    command: Some(command.into()),
                    cwd: Some("/".into()),
                    ..CreateRequest::default()
                };
                let info = manager.create(req).await.expect("create");
                let mut tail = manager.session(info.id.as_str()).expect("session").watch();
                waits.push(async move {
                    let _ = tail.wait_for(|t| !t.running).await;
                });
            }
            for w in waits {
                tokio::time::timeout(DEADLINE, w)
                    .await
                    .expect("session ends");
            }
            made += batch;
        }
        manager.shutdown().await;
    });
}

/// `lanterm serve` (logins on, as installed) under a pretend systemd.
struct Service {
    proc: Running,
    notify: UnixDatagram,
    /// exec to READY=1
    ready_after: Duration,
    addr: String,
}

impl Service {
    fn start(bin: &Path, dir: &Path, extra: &[&str]) -> Service {
        let sock = dir.join("notify.sock");
        let _ = std::fs::remove_file(&sock);
        let notify = UnixDatagram::bind(&sock).expect("bind the notify socket");
        notify.set_read_timeout(Some(DEADLINE)).unwrap();
        let started = Instant::now();
        let proc = Spawn::serve(bin)
            .arg("--allow-root")
            .db(&dir.join("b.db"))
            .args(extra)
            .env("NOTIFY_SOCKET", &sock)
            .deadline(DEADLINE)
            .spawn();
        let mut service = Service {
            proc,
            notify,
            ready_after: Duration::ZERO,
            addr: String::new(),
        };
        let ready = service.next_where(|d| d.lines().any(|l| l == "READY=1"));
        service.ready_after = started.elapsed();
        let at = ready.find("http://").expect("address in STATUS") + "http://".len();
        let rest = &ready[at..];
        service.addr = rest[..rest.find(": ").expect("': '")].to_owned();
        service
    }

    fn next_where(&mut self, f: impl Fn(&str) -> bool) -> String {
        let mut buf = [0u8; 4096];
        loop {
            let n = self.notify.recv(&mut buf).expect("a notification in time");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if f(&text) {
                return text;
            }
        }
    }

    fn rss_mib(&self) -> f64 {
        let pid = self.proc.pid();
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS");
        kib / 1024.0
    }

    fn stop(mut self) {
        self.proc.stop();
    }
}

fn binaries() -> Vec<(String, PathBuf)> {
    if let Ok(bin) = std::env::var("LANTERM_BENCH_BIN") {
        return vec![(bin.clone(), PathBuf::from(bin))];
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        ("x86_64 glibc (`target/release`)", "target/release/lanterm"),
        (
            "x86_64 static musl (`scripts/dist`)",
            "target/x86_64-unknown-linux-musl/release/lanterm",
        ),
    ]
    .into_iter()
    .map(|(name, path)| (name.to_string(), root.join(path)))
    .filter(|(_, p)| p.is_file())
    .collect()
}

/// Drops the database files of `dir` from the page cache (`POSIX_FADV_DONTNEED`), so the next
/// start reads them from the disk, as after a reboot.
fn evict(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read the database directory") {
        let path = entry.expect("entry").path();
        if !path.is_file() {
            continue; // the notify socket
        }
        let file = std::fs::File::open(&path).expect("open a database file");
        nix::fcntl::posix_fadvise(
            &file,
            0,
            0,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
        )
        .expect("posix_fadvise");
    }
}

fn set_password(bin: &Path, db: &Path) {
    let out = Spawn::new(bin)
        .arg("passwd")
        .db(db)
        .stdin(format!("{PASSWORD}\n"))
        .output();
    assert!(out.status.success(), "lanterm passwd: {out:?}");
}

fn main() {
    let bins = binaries();
    assert!(
        !bins.is_empty(),
        "no release binary: cargo build --release --bin lanterm, or scripts/dist"
    );
    let root = std::env::temp_dir().join(format!("lanterm-bench-startup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // The databases: name, directory, what each of the sessions printed (`None`: no sessions).
    let dbs: Vec<(String, PathBuf, Option<&str>)> = vec![
        ("empty database".into(), root.join("empty"), None),
        (
            format!("{ENDED_SESSIONS} ended sessions, ~700 B of output each"),
            root.join("small"),
            Some("seq 1 200"),
        ),
        (
            format!("{ENDED_SESSIONS} ended sessions, ~64 KB of output each"),
            root.join("large"),
            Some("seq 1 12000"),
        ),
    ];
    let mut sizes = Vec::new();
    for (_, dir, command) in &dbs {
        std::fs::create_dir_all(dir).unwrap();
        if let Some(command) = command {
            let filling = Instant::now();
            fill(&dir.join("b.db"), command);
            eprintln!(
                "filled {} in {:.1} s",
                dir.display(),
                filling.elapsed().as_secs_f64()
            );
        }
        for (_, bin) in &bins {
            set_password(bin, &dir.join("b.db"));
        }
        let bytes: u64 = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        sizes.push(bytes);
    }

    println!("### Start to READY=1 (ms, {RUNS} runs after one unrecorded)\n");
    println!(
        "| binary | database | bytes on disk | median ms | fastest..slowest ms | cold cache: median ms | fastest..slowest ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, bin) in &bins {
        for ((db, dir, _), bytes) in dbs.iter().zip(&sizes) {
            Service::start(bin, dir, &[]).stop();
            let runs = |cold: bool| {
                let v: Vec<f64> = (0..RUNS)
                    .map(|_| {
                        if cold {
                            evict(dir);
                        }
                        let s = Service::start(bin, dir, &[]);
                        let ms = s.ready_after.as_secs_f64() * 1000.0;
                        s.stop();
                        ms
                    })
                    .collect();
                let (lo, hi) = v
                    .iter()
                    .fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
                format!("{:.1} | {lo:.1}..{hi:.1}", median(v))
            };
            let warm = runs(false);
            let cold = runs(true);
            println!("| {name} | {db} | {bytes} | {warm} | {cold} |");
        }
    }

    println!("\n### Server resident memory (VmRSS MiB, 300 ms after each state)\n");
    println!(
        "| binary | idle: {} | {} | {} | and {RUNNING_SESSIONS} sessions running `sleep 1000` |",
        dbs[0].0, dbs[1].0, dbs[2].0
    );
    println!("| --- | --- | --- | --- | --- |");
    let settle = || std::thread::sleep(Duration::from_millis(300)); // nothing to wait for
    for (name, bin) in &bins {
        let mut idle = Vec::new();
        for (_, dir, _) in &dbs[..2] {
            let s = Service::start(bin, dir, &["--no-auth"]);
            settle();
            idle.push(s.rss_mib());
            s.stop();
        }
        // --no-auth here: a login's Argon2 (9 MiB for a moment) would stay in glibc's arenas.
        let mut s = Service::start(bin, &dbs[2].1, &["--no-auth"]);
        settle();
        idle.push(s.rss_mib());
        let body = json!({ "command": "sleep 1000", "cwd": "/" }).to_string();
        for _ in 0..RUNNING_SESSIONS {
            let (status, r) = server::request(&s.addr, "POST", "/api/sessions", &body);
            assert_eq!(status, 201, "create: {r}");
        }
        let want = format!(": {RUNNING_SESSIONS} sessions running");
        s.next_where(|d| d.contains(&want));
        settle();
        let busy = s.rss_mib();
        s.stop();
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {busy:.1} |",
            idle[0], idle[1], idle[2]
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
