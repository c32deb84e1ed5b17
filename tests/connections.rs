//! Connection slots against the real binary: one host (here 127.0.0.2; any address of 127/8
//! works on Linux) cannot take every slot, as it is held to `--max-per-address`,
//! and the last `--reserved-conns` slots serve only requests that carry a live login.

mod common;
#[path = "common/server.rs"]
mod server;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use common::TIMEOUT;
use server::{PASSWORD, Resp, Server, parse_response};

/// A TCP connection to `addr` from source address `source`.
async fn connect_from(source: &str, addr: &str) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().expect("a socket");
    sock.bind(format!("{source}:0").parse().unwrap())
        .unwrap_or_else(|e| panic!("bind {source}: {e}"));
    let stream = sock.connect(addr.parse().unwrap()).await.expect("connect");
    let stream = stream.into_std().expect("a std stream");
    stream.set_nonblocking(false).unwrap();
    stream
}

/// Reads until the server closes `s` (at most [`TIMEOUT`]).
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Whether the server has closed `s` (EOF or reset) or sent something, without waiting.
fn touched(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let touched = !matches!(s.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    touched
}

/// `GET path` from `source` with these extra headers on a keep-alive connection of its own:
/// the answer, and the connection (closed by the server after a refusal, else still open).
/// A connection refused only because every slot was taken is tried again: slots come back as
/// the server notices earlier connections closing, which nothing announces.
async fn ask(source: &str, addr: &str, path: &str, headers: &[(&str, &str)]) -> (Resp, TcpStream) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let mut s = connect_from(source, addr).await;
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        // A refused connection may be closed before the request is written: fine.
        let _ = s.write_all(head.as_bytes());
        // Refused at once, the answer may be lost to a reset if our request came after the
        // close: that too means no slot was free.
        let raw = read_answer(&mut s);
        if server::find(&raw, b"\r\n\r\n").is_some() {
            let r = parse_response(&raw);
            if !r.text().contains(FULL) {
                return (r, s);
            }
        }
        assert!(std::time::Instant::now() < deadline, "never a free slot");
        std::thread::sleep(std::time::Duration::from_millis(20)); // no event to wait for
    }
}

/// What a connection hears when every slot is taken.
const FULL: &str = "too many connections, try again later";

/// One answer (a head and a `content-length` body) read from a connection; less if it ends
/// before.
fn read_answer(c: &mut TcpStream) -> Vec<u8> {
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = server::find(&raw, b"\r\n\r\n") {
            let len: usize = parse_response(&raw)
                .header("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            if raw.len() >= end + 4 + len {
                return raw;
            }
        }
        match c.read(&mut buf) {
            Ok(n) if n > 0 => raw.extend_from_slice(&buf[..n]),
            _ => return raw,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_its_share_of_connections_and_no_more() {
    // Idle connections must outlive the test's own pace, so the head deadline is long here.
    let s = Server::start(&["--header-timeout", "120s"]);
    // 400 idle connections from one host: the default --max-per-address (32) are
    // held, every later one hears a 503 at once and is closed.
    let mut flood = Vec::new();
    for _ in 0..400 {
        flood.push(connect_from("127.0.0.2", &s.addr).await);
    }
    for (i, c) in flood.iter_mut().enumerate().skip(32) {
        let r = parse_response(&read_to_close(c));
        assert_eq!(r.error_code(503), "unavailable", "connection {i}");
        assert!(r.text().contains("from your address"), "{}", r.text());
    }
    // Accepted in order: the first 32 were let in before the 33rd was refused.
    for (i, c) in flood.iter_mut().enumerate().take(32) {
        assert!(!touched(c), "connection {i} was answered or closed");
    }
    // Everyone else is served: a client on another address, and a terminal.
    let (health, _) = ask("127.0.0.1", &s.addr, "/api/health", &[]).await;
    assert_eq!(health.status, 200, "{}", health.text());
    server::assert_serving(&s, 1).await;
    // One of the 32 goes: its host may open one again (once the server has seen the close),
    // and that one is the 32nd: the next is refused.
    flood.truncate(31);
    let deadline = std::time::Instant::now() + TIMEOUT;
    let _back = loop {
        let (r, c) = ask("127.0.0.2", &s.addr, "/api/health", &[]).await;
        if r.status == 200 {
            break c;
        }
        assert!(r.text().contains("from your address"), "{}", r.text());
        assert!(std::time::Instant::now() < deadline, "never let in again");
        std::thread::sleep(std::time::Duration::from_millis(20)); // no event to wait for
    };
    let mut over = connect_from("127.0.0.2", &s.addr).await;
    let r = parse_response(&read_to_close(&mut over));
    assert_eq!(r.error_code(503), "unavailable");
    assert!(r.text().contains("from your address"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_slots_serve_only_requests_with_a_live_login() {
    let s = Server::start_logged_in(&[
        "--max-connections",
        "8",
        "--reserved-conns",
        "2",
        "--max-per-address",
        "3",
        "--header-timeout",
        "120s",
    ]);
    let bearer = format!("Bearer {}", s.token.as_deref().unwrap());
    let auth = [("Authorization", bearer.as_str())];
    // Two hosts hold the six ordinary slots with idle connections.
    let mut idle = Vec::new();
    for source in ["127.0.0.2", "127.0.0.3"] {
        for _ in 0..3 {
            idle.push(connect_from(source, &s.addr).await);
        }
    }
    // A third host gets in only on a reserved slot: without a live login it is told 503 and
    // closed (the login endpoint too: the reserve is for requests that carry a token).
    for (path, headers) in [
        ("/api/health", &[][..]),
        (
            "/api/sessions",
            &[(
                "Authorization",
                "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            )][..],
        ),
    ] {
        let (r, mut c) = ask("127.0.0.4", &s.addr, path, headers).await;
        assert_eq!(r.error_code(503), "unavailable", "{path}");
        assert!(r.text().contains("--reserved-conns"), "{}", r.text());
        assert_eq!(r.header("connection"), Some("close"));
        assert!(read_to_close(&mut c).is_empty());
    }
    // The owner, with a token, is served on both reserved slots at once, and each of those
    // keep-alive connections goes on serving; with every slot taken the next is refused.
    let mut kept = Vec::new();
    for _ in 0..2 {
        let (r, mut c) = ask("127.0.0.1", &s.addr, "/api/sessions", &auth).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let again = format!(
            "GET /api/sessions HTTP/1.1\r\nHost: {}\r\nAuthorization: {bearer}\r\n\r\n",
            s.addr
        );
        c.write_all(again.as_bytes()).unwrap();
        assert!(read_answer(&mut c).starts_with(b"HTTP/1.1 200"));
        kept.push(c);
    }
    let mut full = connect_from("127.0.0.1", &s.addr).await;
    assert!(String::from_utf8_lossy(&read_to_close(&mut full)).contains(FULL));
    // When the idle hosts go, ordinary slots are free again for anyone.
    drop(idle);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while ask("127.0.0.4", &s.addr, "/api/health", &[]).await.0.status != 200 {
        assert!(std::time::Instant::now() < deadline, "never served again");
        std::thread::sleep(std::time::Duration::from_millis(20)); // no event to wait for
    }
    drop(kept);
    assert_eq!(s.login(PASSWORD).len(), 43);
}
