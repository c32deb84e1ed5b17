//! The service's limits and edges, against the real binary: request bodies over `--max-body`,
//! slow request heads, `--max-connections`, `--max-clients`, authentication, and a clean
//! SIGTERM with a client attached.

mod common;
#[path = "common/server.rs"]
mod server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::spawn::Spawn;
use common::{TIMEOUT, TempDir, poll_until, poll_until_async};
use serde_json::json;
use server::{BIN, Client, Server, exchange, http, random_bytes, seq, upgrade_head, ws_connect};
use tokio_tungstenite::tungstenite;

/// Reads until the server closes the connection (EOF or reset), at most `limit`.
fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "still open after {limit:?}, got {:?}",
                    String::from_utf8_lossy(&raw)
                )
            }
            Err(_) => break, // reset: closed too
        }
    }
    (raw, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_is_413_and_the_server_keeps_answering() {
    let s = Server::start(&[]); // --max-body defaults to 1 MiB
    let file = s.dir.path().join("typed.bin");
    let small = random_bytes(256 * 1024);
    let sid = s.run(&format!(
        "stty raw -echo; printf R; head -c {} > {}",
        small.len(),
        file.display()
    ));
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.read_len(1).await; // raw from here on
    let path = format!("/api/sessions/{sid}/input");
    let octets = ("Content-Type", "application/octet-stream");
    let huge = vec![b'x'; 20 * 1024 * 1024];

    // Declared up front ...
    let r = http(&s.addr, "POST", &path, &[octets], &huge);
    r.assert_error(413, "payload_too_large");
    assert_eq!(s.get("/api/health").status, 200);
    // ... or only found out while reading (chunked, no length).
    let mut chunked = Vec::new();
    for piece in huge.chunks(64 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let te = ("Transfer-Encoding", "chunked");
    http(&s.addr, "POST", &path, &[octets, te], &chunked).assert_error(413, "payload_too_large");
    assert_eq!(s.get("/api/health").status, 200);
    // Also for JSON endpoints.
    let big_name = json!({"cwd": "/", "name": "n".repeat(2 * 1024 * 1024)});
    s.send("POST", "/api/sessions", Some(big_name))
        .assert_error(413, "payload_too_large");

    // Within the limit: every byte arrives, and none of the refused ones did.
    let r = http(&s.addr, "POST", &path, &[octets], &small);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(c.closed().await, Some(1000));
    let written = std::fs::read(&file).unwrap();
    assert!(written == small, "{} bytes written", written.len());
}

#[test]
fn a_half_sent_head_blocks_nobody_and_is_closed_after_the_header_timeout() {
    let s = Server::start(&["--header-timeout", "500ms"]);
    let mut slow = TcpStream::connect(&s.addr).unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let asked = Instant::now();
    let r = s.get("/api/health");
    assert_eq!(r.status, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    let (raw, took) = read_to_close(&mut slow, Duration::from_secs(5));
    assert!(
        raw.is_empty() || raw.starts_with(b"HTTP/1.1 4"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
    assert_eq!(s.get("/api/health").status, 200);
}

#[test]
fn connections_over_max_connections_get_503_until_others_close() {
    let s = Server::start(&["--max-connections", "4"]);
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(&s.addr).unwrap())
        .collect();
    let mut fifth = TcpStream::connect(&s.addr).unwrap();
    let _ = fifth.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (raw, _) = read_to_close(&mut fifth, TIMEOUT);
    if !raw.is_empty() {
        let r = server::parse_response(&raw);
        let code = r.error_code(503);
        assert!(code == "unavailable" || code == "limit_reached", "{code}");
        let length = r
            .header("content-length")
            .map(|l| l.parse::<usize>().unwrap());
        assert_eq!(length, Some(r.body.len()), "{:?}", r.text());
    }
    drop(held);
    // Nothing announces that the server has seen them close: ask until it answers.
    let health = || {
        let mut stream = TcpStream::connect(&s.addr).unwrap();
        let _ =
            stream.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        String::from_utf8_lossy(&read_to_close(&mut stream, TIMEOUT).0).into_owned()
    };
    poll_until(TIMEOUT, "a connection slot back", health, |r| {
        r.starts_with("HTTP/1.1 200")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_over_max_clients_gets_429() {
    let s = Server::start(&["--max-clients", "1"]);
    let sid = s.run("sleep 600");
    let first = Client::attach(&s.addr, &sid, "").await;
    let path = format!("/api/sessions/{sid}/attach");
    exchange(&s.addr, &upgrade_head(&s.addr, &path), b"").assert_error(429, "limit_reached");
    match ws_connect(&s.addr, &path).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 429),
        Err(e) => panic!("expected 429, got {e}"),
        Ok(_) => panic!("a second client was let in"),
    }
    assert_eq!(s.session(&sid)["clients"], 1);
    // Another session is not affected.
    let other = s.run("sleep 600");
    Client::attach(&s.addr, &other, "").await;
    drop(first);
    // The slot comes back once the server has seen the client go (no event says so).
    let again = async || {
        ws_connect(&s.addr, &path)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let _ = poll_until_async(TIMEOUT, "the client slot back", again, Result::is_ok).await;
}

#[test]
fn no_auth_on_a_public_address_is_refused_with_status_2() {
    let dir = TempDir::new("noauth");
    let out = Spawn::new(BIN)
        .args([
            "serve",
            "--no-auth",
            "--listen",
            "0.0.0.0:0",
            "--allow-root",
        ])
        .db(&dir.db())
        .output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--no-auth"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_clients_stops_in_time_and_keeps_the_output() {
    let mut s = Server::start(&[]);
    let expected = seq(20_000);
    let sid = s.run("stty raw -echo; seq 1 20000; sleep 600");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.read_len(expected.len()).await;
    assert!(c.bytes == expected);
    let (status, took) = s.terminate();
    assert_eq!(status.code(), Some(0), "{}", s.log());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let code = c.closed().await;
    assert!(code.is_some(), "no close frame (error {:?})", c.error);
    assert!(c.bytes.starts_with(&expected));

    let db = rusqlite::Connection::open(s.dir.db()).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT o.data, o.raw_len FROM output o JOIN sessions s ON s.seq = o.session
             WHERE s.id = ?1 ORDER BY o.start",
        )
        .unwrap();
    let stored: Vec<u8> = stmt
        .query_map([&sid], |r| Ok(common::decode_chunk(r.get(0)?, r.get(1)?)))
        .unwrap()
        .flat_map(Result::unwrap)
        .collect();
    assert!(
        stored.starts_with(&expected),
        "stored {} bytes",
        stored.len()
    );
    let status: String = db
        .query_row("SELECT status FROM sessions WHERE id = ?1", [&sid], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "stopped");
}
