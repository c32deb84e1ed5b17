//! `cargo bench --bench auth`: what logins cost, against the real `lanterm serve` in the release
//! profile (`scripts/bench` builds it). Prints Markdown tables; asserts only that requests
//! succeed, never speed.
//!
//! 1. `POST /api/login` round trips with the right password (almost all of it is one Argon2id
//!    verification: m = 9 MiB, t = 4, p = 1), and the server's peak RSS after them;
//! 2. the cost of the token check per request: `GET /api/sessions` on a fresh connection, with a
//!    bearer token (one SQLite lookup off the async threads) against the same under `--no-auth`.

#[path = "server.rs"]
mod server;

use std::time::Instant;

use serde_json::json;
use server::spawn::Spawn;
use server::{Server, binary, request, request_as};

const LOGINS: usize = 9;
const REQUESTS: usize = 2000;
const PASSWORD: &str = "bench password 1";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn set_password(db: &std::path::Path) {
    let out = Spawn::new(binary())
        .arg("passwd")
        .db(db)
        .stdin(format!("{PASSWORD}\n"))
        .output();
    assert!(out.status.success(), "lanterm passwd failed: {out:?}");
}

/// Median µs of `REQUESTS` `GET /api/sessions`, each on a fresh connection.
fn per_request(addr: &str, token: Option<&str>) -> f64 {
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let t = Instant::now();
        let (status, body) = request_as(addr, token, "GET", "/api/sessions", "");
        assert_eq!(status, 200, "{body}");
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    median(times)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("lanterm-bench-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    set_password(&dir.join("b.db"));
    let mut server = Server::spawn(&dir, &[]);
    let idle = server.rss_mib();
    let body = json!({ "password": PASSWORD }).to_string();
    let mut logins = Vec::new();
    for _ in 0..LOGINS {
        let t = Instant::now();
        let (status, answer) = request(&server.addr, "POST", "/api/login", &body);
        assert_eq!(status, 200, "login: {answer}");
        logins.push(t.elapsed().as_secs_f64() * 1000.0);
        server.token = answer["token"].as_str().map(str::to_owned);
    }
    let peak = server.status_kib("VmHWM") as f64 / 1024.0;
    println!("### Logins ({LOGINS} sequential `POST /api/login`, release build)\n");
    println!(
        "| login round trip, median ms | fastest ms | server RSS idle MiB | server peak RSS after logins MiB |"
    );
    println!("| --- | --- | --- | --- |");
    let fastest = logins.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "| {:.1} | {fastest:.1} | {idle:.1} | {peak:.1} |",
        median(logins)
    );

    let with_token = per_request(&server.addr, server.token.as_deref());
    drop(server);
    let open = Server::start(&dir.join("open"));
    let without = per_request(&open.addr, None);
    drop(open);
    println!(
        "\n### The token check per request ({REQUESTS} × `GET /api/sessions`, fresh connection each, µs)\n"
    );
    println!("| `--no-auth` median µs | bearer token median µs | difference µs |");
    println!("| --- | --- | --- |");
    println!(
        "| {without:.0} | {with_token:.0} | {:.0} |",
        with_token - without
    );
    let _ = std::fs::remove_dir_all(&dir);
}
