//! `cargo bench --bench startup`: how long the release binary takes from `exec` to `READY=1` on
//! systemd's notify socket, with an empty database and with 1000 ended sessions in it (target
//! under 100 ms), and the server's resident memory idle and with 32 running sessions. Plays
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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lanterm::config::Config;
use lanterm::launch::CreateRequest;
use lanterm::manager::Manager;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

const ENDED_SESSIONS: usize = 1000;
const RUNS: usize = 9;
const RUNNING_SESSIONS: usize = 32;
const PASSWORD: &str = "bench password 1";
const DEADLINE: Duration = Duration::from_secs(60);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Fills `db` with `ENDED_SESSIONS` sessions that ran and ended (through the engine itself, as
/// the service records them), 32 at a time; each printed ~700 bytes.
fn fill(db: &Path) {
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
                    command: Some("seq 1 200".into()),
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
    child: Child,
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
        let child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--allow-root", "--db"])
            .arg(dir.join("b.db"))
            .args(extra)
            .env_clear()
            .env("HOME", "/root")
            .env("NOTIFY_SOCKET", &sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lanterm serve");
        let mut service = Service {
            child,
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
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS");
        kib / 1024.0
    }

    fn stop(mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let sent = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if sent.elapsed() > DEADLINE {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(5)); // another process's exit
        }
        let _ = self.child.wait();
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

fn set_password(bin: &Path, db: &Path) {
    let mut child = Command::new(bin)
        .args(["passwd", "--db"])
        .arg(db)
        .env_clear()
        .env("HOME", "/root")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("lanterm passwd");
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success(), "lanterm passwd");
}

fn main() {
    let bins = binaries();
    assert!(
        !bins.is_empty(),
        "no release binary: cargo build --release --bin lanterm, or scripts/dist"
    );
    let root = std::env::temp_dir().join(format!("lanterm-bench-startup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (empty, full) = (root.join("empty"), root.join("full"));
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&full).unwrap();
    let filling = Instant::now();
    fill(&full.join("b.db"));
    let db_bytes: u64 = std::fs::read_dir(&full)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    eprintln!(
        "filled {ENDED_SESSIONS} ended sessions in {:.1} s ({db_bytes} bytes on disk)",
        filling.elapsed().as_secs_f64()
    );
    for (_, bin) in &bins {
        set_password(bin, &empty.join("b.db"));
        set_password(bin, &full.join("b.db"));
    }

    println!("### Start to READY=1 (ms, median of {RUNS} runs after one unrecorded)\n");
    println!(
        "| binary | empty database | {ENDED_SESSIONS} ended sessions | fastest, {ENDED_SESSIONS} | slowest, {ENDED_SESSIONS} |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (name, bin) in &bins {
        let times = |dir: &Path| {
            Service::start(bin, dir, &[]).stop();
            let v: Vec<f64> = (0..RUNS)
                .map(|_| {
                    let s = Service::start(bin, dir, &[]);
                    let ms = s.ready_after.as_secs_f64() * 1000.0;
                    s.stop();
                    ms
                })
                .collect();
            v
        };
        let e = times(&empty);
        let f = times(&full);
        let (lo, hi) = f
            .iter()
            .fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        println!(
            "| {name} | {:.1} | {:.1} | {lo:.1} | {hi:.1} |",
            median(e),
            median(f.clone())
        );
    }

    println!("\n### Server resident memory (VmRSS MiB, 300 ms after each state)\n");
    println!(
        "| binary | idle, empty database | idle, {ENDED_SESSIONS} ended sessions | and {RUNNING_SESSIONS} sessions running `sleep 1000` |"
    );
    println!("| --- | --- | --- | --- |");
    let settle = || std::thread::sleep(Duration::from_millis(300)); // nothing to wait for
    for (name, bin) in &bins {
        let s = Service::start(bin, &empty, &["--no-auth"]);
        settle();
        let idle_empty = s.rss_mib();
        s.stop();
        // --no-auth here: a login's Argon2 (9 MiB for a moment) would stay in glibc's arenas.
        let mut s = Service::start(bin, &full, &["--no-auth"]);
        settle();
        let idle_full = s.rss_mib();
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
        println!("| {name} | {idle_empty:.1} | {idle_full:.1} | {busy:.1} |");
    }
    let _ = std::fs::remove_dir_all(&root);
}
