//! Hostile load against the real binary: 500 idle connections (held within
//! `--max-connections`, the rest told 503, in bounded memory), and slow clients (slowloris:
//! heads dribbled a byte at a time; slow bodies) closed by their deadline while a normal client
//! is served. The figures printed here are recorded in docs/BENCHMARKS.md ("Hostile load").

mod common;
#[path = "common/server.rs"]
mod server;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::TIMEOUT;
use server::{Server, assert_serving, parse_response};

/// Whether the server has closed `s` (EOF or reset), without waiting; bytes it sent first
/// are appended to `got`.
fn closed_now(s: &mut TcpStream, got: &mut Vec<u8>) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// Reads until the server closes `s` (at most [`TIMEOUT`]).
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// `GET /api/health` on a new connection until it is 200 (nothing announces that the server
/// has seen other connections close).
fn health_eventually(s: &Server) {
    common::poll_eq(TIMEOUT, "health back", || s.get("/api/health").status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_idle_connections_are_held_or_refused_in_bounded_memory() {
    // Idle connections must outlive the test's own pace, so the head deadline is long here;
    // they all come from 127.0.0.1, so the cap per address is lifted (tests/connections.rs
    // holds one address to its share).
    let s = Server::start(&["--header-timeout", "120s", "--max-per-address", "1000"]);
    let idle_rss = s.rss_kib();
    let mut conns: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(&s.addr).expect("connect"))
        .collect();
    // Accepted in order: the first 256 (--max-connections) are held, every later one hears
    // the canned 503 and is closed.
    for (i, c) in conns.iter_mut().enumerate().skip(256) {
        let raw = read_to_close(c);
        let r = parse_response(&raw);
        assert_eq!(r.error_code(503), "unavailable", "connection {i}");
    }
    for (i, c) in conns.iter_mut().enumerate().take(256) {
        let mut got = Vec::new();
        assert!(!closed_now(c, &mut got), "connection {i} was closed");
        assert!(got.is_empty(), "connection {i} got {got:?}");
    }
    // A normal client now is one too many, and is told so.
    s.get("/api/health").assert_error(503, "unavailable");
    let held_rss = s.rss_kib();
    println!(
        "500 idle connections: server RSS {idle_rss} KiB idle, {held_rss} KiB with 256 held \
         and 244 refused"
    );
    assert!(held_rss < 32 * 1024, "RSS {held_rss} KiB");
    // Once they go, a normal client is served, and so is a terminal.
    drop(conns);
    health_eventually(&s);
    assert_serving(&s, 1).await;
}

/// `n` connections that each write `first` at once, then the byte `then` every `every`,
/// until the server closes them; how long each lasted, and what it got back.
fn dribble(
    addr: &str,
    n: usize,
    first: &[u8],
    then: u8,
    every: Duration,
) -> Vec<(Duration, Vec<u8>)> {
    let mut conns: Vec<(TcpStream, Instant, Option<Duration>, Vec<u8>)> = (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.set_nodelay(true).unwrap();
            s.write_all(first).expect("write the start");
            (s, Instant::now(), None, Vec::new())
        })
        .collect();
    let give_up = Instant::now() + TIMEOUT;
    while conns.iter().any(|c| c.2.is_none()) {
        assert!(
            Instant::now() < give_up,
            "slow clients still open after {TIMEOUT:?}"
        );
        for (s, opened, ended, got) in conns.iter_mut().filter(|c| c.2.is_none()) {
            if s.write_all(&[then]).is_err() || closed_now(s, got) {
                *ended = Some(opened.elapsed());
            }
        }
        std::thread::sleep(every); // the dribble's pace is the point
    }
    conns.into_iter().map(|c| (c.2.unwrap(), c.3)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_are_closed_by_the_header_timeout_and_block_nobody() {
    const TIMEOUT_S: u64 = 4;
    // The 200 slow heads come from 127.0.0.1 like the normal client: no cap per address here.
    let s = Server::start(&[
        "--header-timeout",
        &format!("{TIMEOUT_S}s"),
        "--max-per-address",
        "1000",
    ]);
    let addr = s.addr.clone();
    let head = format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
    let started = Instant::now();
    let slow = std::thread::spawn(move || {
        dribble(
            &addr,
            200,
            head.as_bytes(),
            b'a',
            Duration::from_millis(300),
        )
    });
    // While 200 heads trickle in, a normal client is answered (six times, 300 ms apart).
    std::thread::sleep(Duration::from_millis(500)); // let the slow ones get going
    let mut latencies = Vec::new();
    for _ in 0..6 {
        let asked = Instant::now();
        assert_eq!(s.get("/api/health").status, 200);
        latencies.push(asked.elapsed());
        std::thread::sleep(Duration::from_millis(300)); // spread over the dribble
    }
    let served_by = started.elapsed() - Duration::from_millis(300);
    latencies.sort();
    println!(
        "slowloris: a normal GET /api/health took {:?} to {:?} (median {:?}) in the first {:?}",
        latencies[0], latencies[5], latencies[3], served_by
    );
    // And a terminal works meanwhile.
    assert_serving(&s, 2).await;
    let lasted = slow.join().expect("the slow clients");
    let first_close = lasted.iter().map(|l| l.0).min().unwrap();
    let last_close = lasted.iter().map(|l| l.0).max().unwrap();
    println!(
        "slowloris: 200 slow heads closed after {first_close:?} to {last_close:?} \
         (--header-timeout {TIMEOUT_S}s)"
    );
    // Not starved: the normal client was answered before the first slow one was cut off.
    assert!(served_by < first_close, "{served_by:?} vs {first_close:?}");
    for (_, got) in &lasted {
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 4"),
            "{:?}",
            String::from_utf8_lossy(got)
        );
    }
    assert_serving(&s, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_are_given_up_after_the_header_timeout() {
    const TIMEOUT_S: u64 = 2;
    // The 51 slow bodies come from 127.0.0.1 like the normal client: no cap per address here.
    let s = Server::start(&[
        "--header-timeout",
        &format!("{TIMEOUT_S}s"),
        "--max-per-address",
        "1000",
    ]);
    let file = s.dir.path().join("typed");
    let sid = s.run(&format!("stty -echo; cat > {}", file.display()));
    let addr = s.addr.clone();
    // Whole heads at once, then bodies a byte every 300 ms (and one that never sends any).
    let head = format!(
        "POST /api/sessions/{sid}/input HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
    );
    let mut silent = TcpStream::connect(&s.addr).unwrap();
    silent.write_all(head.as_bytes()).unwrap();
    let slow = std::thread::spawn(move || {
        dribble(&addr, 50, head.as_bytes(), b'x', Duration::from_millis(300))
    });
    let asked = Instant::now();
    assert_eq!(s.get("/api/health").status, 200);
    println!(
        "slow bodies: a normal GET /api/health took {:?}",
        asked.elapsed()
    );
    let lasted = slow.join().expect("the slow clients");
    let last_close = lasted.iter().map(|l| l.0).max().unwrap();
    println!("slow bodies: 50 closed by {last_close:?} (--header-timeout {TIMEOUT_S}s)");
    for (_, got) in lasted
        .iter()
        .chain([(Duration::ZERO, read_to_close(&mut silent))].iter())
    {
        let r = parse_response(got);
        assert_eq!(r.error_code(408), "request_timeout", "{:?}", r.text());
    }
    // None of the partial bodies reached the terminal.
    s.send(
        "POST",
        &format!("/api/sessions/{sid}/input"),
        Some(serde_json::json!({"data": "\u{4}"})),
    );
    s.wait_exit(&sid);
    assert_eq!(std::fs::read(&file).unwrap(), b"");
    assert_serving(&s, 4).await;
}
