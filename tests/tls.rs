//! HTTPS on the real binary: certificates made by the `openssl` command, a rustls client that
//! trusts exactly them, the API and a WebSocket attach over TLS, plain HTTP and silent clients
//! on the TLS port, SIGHUP's reload (good and broken files), and startup refusals.
#![cfg(feature = "tls")]

mod common;
#[path = "common/server.rs"]
mod server;
#[path = "common/tlsclient.rs"]
mod tlsclient;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use common::spawn::Spawn;
use common::{TIMEOUT, TempDir};
use nix::sys::signal::{Signal, kill};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::{Value, json};
use server::{BIN, Client, Resp, Server, exchange, http, parse_response, ws_over};
use tlsclient::{Cert, https_raw, server_name, trusting};

/// A server on HTTPS with `cert`, `--no-auth` and `extra`.
fn start(cert: &Cert, extra: &[&str]) -> Server {
    let mut args = vec![
        "--tls-cert",
        cert.cert.to_str().unwrap(),
        "--tls-key",
        cert.key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let s = Server::start(&args);
    assert!(s.log().contains("ready on https://"), "{}", s.log());
    s
}

/// One HTTPS request with a JSON body (`None`: none) on a fresh connection: the answer and the
/// certificate the server presented.
fn https(
    s: &Server,
    tls: &Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (Resp, CertificateDer<'static>) {
    let body = body.map(|v| v.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        s.addr,
        body.len()
    );
    https_raw(&s.addr, tls, request.as_bytes())
}

fn health(s: &Server, tls: &Arc<ClientConfig>) -> CertificateDer<'static> {
    let (r, presented) = https(s, tls, "GET", "/api/health", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ok", "{}", r.text());
    presented
}

/// Attaches to session `id` over a WebSocket over TLS.
async fn attach_tls(s: &Server, tls: &Arc<ClientConfig>, id: &str) -> Client {
    let tcp = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(server_name(), tcp)
        .await
        .expect("TLS handshake");
    let url = format!("wss://{}/api/sessions/{id}/attach?from=0", s.addr);
    let ws = ws_over(Box::new(stream), &url)
        .await
        .expect("WebSocket over TLS");
    Client::attached(ws).await
}

/// Waits until the server's log contains `needle` (a log line is the only sign of a reload).
fn wait_log(s: &Server, needle: &str) -> String {
    s.wait_log(needle, 1);
    s.log()
}

#[test]
fn the_api_answers_over_https_and_plain_http_is_told_to_use_https() {
    let dir = TempDir::new("tls");
    let cert = Cert::new(dir.path(), "a");
    let s = start(&cert, &[]);
    let tls = trusting(&[&cert]);
    assert_eq!(health(&s, &tls), cert.der);

    // Plain HTTP on the TLS port: a clear 400, and the server goes on.
    let r = http(&s.addr, "GET", "/api/health", &[], b"");
    r.assert_error(400, "bad_request");
    assert!(r.text().contains("https://"), "{}", r.text());
    let r = exchange(&s.addr, b"garbage that is no TLS record\r\n\r\n", b"");
    r.assert_error(400, "bad_request");
    assert_eq!(health(&s, &tls), cert.der);

    // A client that does not trust the certificate gets no answer.
    let other = Cert::new(dir.path(), "other");
    let tcp = TcpStream::connect(&s.addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let conn = ClientConnection::new(trusting(&[&other]), server_name()).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    let refused = stream.write_all(b"GET /api/health HTTP/1.1\r\n\r\n");
    assert!(refused.is_err(), "an untrusted certificate was accepted");
    assert_eq!(health(&s, &tls), cert.der);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_attach_over_tls_streams_output_and_takes_input() {
    let dir = TempDir::new("tls");
    let cert = Cert::new(dir.path(), "a");
    let s = start(&cert, &[]);
    let tls = trusting(&[&cert]);
    let create = json!({"command": "echo started; exec cat", "cwd": "/"});
    let (r, _) = https(&s, &tls, "POST", "/api/sessions", Some(create));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["session"]["id"].as_str().unwrap().to_owned();

    let mut c = attach_tls(&s, &tls, &id).await;
    c.read_contains("started").await;
    c.send_bytes(b"over tls\n").await;
    c.read_contains("over tls").await;
}

#[test]
fn a_client_that_never_handshakes_holds_a_connection_slot_until_the_header_timeout() {
    let dir = TempDir::new("tls");
    let cert = Cert::new(dir.path(), "a");
    let s = start(&cert, &["--header-timeout", "1s", "--max-connections", "1"]);
    let mut silent = TcpStream::connect(&s.addr).unwrap();
    silent.set_read_timeout(Some(TIMEOUT)).unwrap();
    // While it waits in its handshake, it is the one connection allowed: the next is refused.
    let refused = exchange(&s.addr, b"", b"");
    refused.assert_error(503, "unavailable");
    // Then the server gives up on it: closed (end of stream, or a reset), not left hanging.
    let mut buf = [0u8; 64];
    match silent.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "the server sent {:?}", &buf[..n]),
        Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "still open: {e}"),
    }
    // Its slot is free again (the permit goes back as its task ends, so allow a moment).
    let tls = trusting(&[&cert]);
    let health = || exchange_tls_health(&s, &tls);
    common::poll_eq(TIMEOUT, "the slot back", health, Some(200));
}

/// `GET /api/health` over HTTPS; `None` when the connection was refused (a plain 503 in the
/// place of a TLS answer fails the handshake).
fn exchange_tls_health(s: &Server, tls: &Arc<ClientConfig>) -> Option<u16> {
    let tcp = TcpStream::connect(&s.addr).ok()?;
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let conn = ClientConnection::new(tls.clone(), server_name()).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    let head = format!(
        "GET /api/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.addr
    );
    stream.write_all(head.as_bytes()).ok()?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    (!raw.is_empty()).then(|| parse_response(&raw).status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_serves_a_new_certificate_to_new_connections_and_keeps_sessions() {
    let dir = TempDir::new("tls");
    let live = Cert::new(dir.path(), "live");
    let next = Cert::new(dir.path(), "next");
    let s = start(&live, &[]);
    let tls = trusting(&[&live, &next]);
    let first = live.der.clone();
    let create = json!({"command": "echo started; exec cat", "cwd": "/"});
    let (r, presented) = https(&s, &tls, "POST", "/api/sessions", Some(create));
    assert_eq!((r.status, &presented), (201, &first), "{}", r.text());
    let session = r.json()["session"].clone();
    let id = session["id"].as_str().unwrap().to_owned();
    let mut attached = attach_tls(&s, &tls, &id).await;
    attached.read_contains("started").await;

    // New files in place, then SIGHUP: new connections see the new certificate.
    next.install_as(&live);
    kill(s.pid(), Signal::SIGHUP).unwrap();
    wait_log(&s, "SIGHUP: reloaded the TLS certificate");
    assert_eq!(health(&s, &tls), next.der);
    // The connection made before goes on, and so does the session (same process).
    attached.send_bytes(b"after reload\n").await;
    attached.read_contains("after reload").await;
    let (r, _) = https(&s, &tls, "GET", &format!("/api/sessions/{id}"), None);
    assert_eq!(r.json()["session"]["pid"], session["pid"], "{}", r.text());
    assert_eq!(r.json()["session"]["status"], "running");

    // A broken file: the error is logged and the certificate in force stays.
    std::fs::write(&live.cert, "not a certificate\n").unwrap();
    kill(s.pid(), Signal::SIGHUP).unwrap();
    let log = wait_log(&s, "still serving the previous certificate");
    let line = log.lines().find(|l| l.contains("still serving")).unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(live.cert.to_str().unwrap()), "{line}");
    assert_eq!(health(&s, &tls), next.der);
    attached.send_bytes(b"still here\n").await;
    attached.read_contains("still here").await;
}

#[test]
fn without_tls_sighup_reloads_nothing_and_the_service_goes_on() {
    let s = Server::start(&[]);
    kill(s.pid(), Signal::SIGHUP).unwrap();
    wait_log(&s, "SIGHUP: nothing to reload");
    assert_eq!(s.get("/api/health").status, 200);
}

/// Runs `lanterm serve` with these TLS files, expecting it to refuse to start: its status and
/// its log.
fn refused_start(cert: &Path, key: &Path) -> (Option<i32>, String) {
    let db = TempDir::new("tls-refused");
    let out = Spawn::serve(BIN)
        .args(["--no-auth", "--allow-root"])
        .db(&db.db())
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .output();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_unreadable_or_mismatched_certificate_stops_the_start_with_one_line() {
    let dir = TempDir::new("tls");
    let cert = Cert::new(dir.path(), "a");
    let other = Cert::new(dir.path(), "b");
    let missing = dir.path().join("missing.crt");
    let huge = dir.path().join("huge.crt");
    // At the limit: a file of 1 MiB is read (and found to hold no certificate), one byte more
    // is refused unread.
    std::fs::write(&huge, vec![b'x'; 1024 * 1024]).unwrap();
    let at_limit = refused_start(&huge, &cert.key);
    std::fs::write(&huge, vec![b'x'; 1024 * 1024 + 1]).unwrap();
    let over_limit = refused_start(&huge, &cert.key);
    let cases = [
        (refused_start(&missing, &cert.key), &missing, "No such file"),
        (
            refused_start(&cert.key, &cert.key),
            &cert.key,
            "no certificate",
        ),
        (
            refused_start(&cert.cert, &cert.cert),
            &cert.cert,
            "no private key",
        ),
        (
            refused_start(&cert.cert, &other.key),
            &other.key,
            "does not belong",
        ),
        (at_limit, &huge, "no certificate"),
        (over_limit, &huge, "larger than 1 MiB"),
    ];
    for ((code, log), file, problem) in cases {
        assert!(matches!(code, Some(c) if c != 0), "{code:?}: {log}");
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{log}");
        assert!(errors[0].contains(file.to_str().unwrap()), "{log}");
        assert!(errors[0].contains(problem), "{problem:?}: {log}");
        assert!(!log.contains("panicked"), "{log}");
    }
}
