//! Hostile WebSocket clients against the real binary: broken handshakes, frames that break
//! RFC 6455 (unmasked, reserved bits and opcodes, invalid UTF-8, bad close codes, fragments
//! over the limit), unreadable and out-of-range control messages, a ping flood. Each gets a
//! clear answer (an HTTP error before the upgrade, an error frame, or a close with the right
//! code), only that client is affected, and the server still serves a terminal.

mod common;
#[path = "common/server.rs"]
mod server;

use server::{Client, Server, assert_serving, exchange, raw};

/// A handshake for `path` with these header lines (besides `Host`).
fn handshake(addr: &str, line: &str, lines: &[&str]) -> Vec<u8> {
    let mut head = format!("{line}\r\nHost: {addr}\r\n");
    for l in lines {
        head.push_str(l);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_handshakes_are_refused_before_the_upgrade() {
    let s = Server::start(&[]);
    let a = s.addr.as_str();
    let sid = s.run("sleep 600");
    let get = format!("GET /api/sessions/{sid}/attach HTTP/1.1");
    let (conn, up) = ("Connection: Upgrade", "Upgrade: websocket");
    let (v13, key) = (
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    );
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("version 8", vec![conn, up, "Sec-WebSocket-Version: 8", key]),
        (
            "version 14",
            vec![conn, up, "Sec-WebSocket-Version: 14", key],
        ),
        (
            "version text",
            vec![conn, up, "Sec-WebSocket-Version: x", key],
        ),
        ("no version", vec![conn, up, key]),
        ("no key", vec![conn, up, v13]),
        ("empty key", vec![conn, up, v13, "Sec-WebSocket-Key: "]),
        ("short key", vec![conn, up, v13, "Sec-WebSocket-Key: eA=="]),
        (
            "key not base64",
            vec![conn, up, v13, "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="],
        ),
        ("no Connection", vec![up, v13, key]),
        ("Connection: close", vec!["Connection: close", up, v13, key]),
        ("no Upgrade", vec![conn, v13, key]),
        ("Upgrade: h2c", vec![conn, "Upgrade: h2c", v13, key]),
    ];
    for (what, lines) in cases {
        let r = exchange(a, &handshake(a, &get, &lines), b"");
        assert_eq!(r.error_code(400), "bad_request", "{what}");
        if what.starts_with("version") || what == "no version" {
            assert_eq!(r.header("sec-websocket-version"), Some("13"), "{what}");
        }
    }
    // HTTP/1.0 cannot upgrade.
    let old = format!("GET /api/sessions/{sid}/attach HTTP/1.0");
    let r = exchange(a, &handshake(a, &old, &[conn, up, v13, key]), b"");
    r.assert_error(400, "bad_request");
    // Only GET upgrades.
    let post = format!("POST /api/sessions/{sid}/attach HTTP/1.1");
    let r = raw(
        a,
        &handshake(a, &post, &["Connection: close", up, v13, key]),
    );
    r.answer().assert_error(405, "method_not_allowed");
    // None of them took a client slot; a proper handshake still works.
    assert_eq!(s.session(&sid)["clients"], 0);
    Client::attach(a, &sid, "").await;
    assert_serving(&s, 1).await;
}
