//! Hostile WebSocket clients against the real binary: broken handshakes, frames that break
//! RFC 6455 (unmasked, reserved bits and opcodes, invalid UTF-8, bad close codes, fragments
//! over the limit), unreadable and out-of-range control messages, a ping flood. Each gets a
//! clear answer (an HTTP error before the upgrade, an error frame, or a close with the right
//! code), only that client is affected, and the server still serves a terminal.

mod common;
#[path = "common/server.rs"]
mod server;

use serde_json::json;
use server::rawws::{BINARY, CLOSE, CONTINUATION, End, PING, RawWs, TEXT, encode};
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

/// Opens a raw client on `sid` and reads its `attached` frame.
fn attach_raw(s: &Server, sid: &str) -> RawWs {
    let mut ws = RawWs::open(&s.addr, &format!("/api/sessions/{sid}/attach?from=0"));
    ws.text("attached");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_break_the_protocol_close_with_the_right_code() {
    let s = Server::start(&["--max-frame", "4KiB"]);
    let sid = s.run("cat");
    let big = vec![b'a'; 8 * 1024];
    let half = vec![b'a'; 3 * 1024];
    type Send = Box<dyn Fn(&mut RawWs)>;
    let cases: Vec<(&str, Send, u16)> = vec![
        (
            "text over --max-frame",
            Box::new(move |w| w.send(TEXT, &big)),
            1009,
        ),
        (
            "fragments over --max-frame",
            Box::new(move |w| {
                w.frame(false, BINARY, &half, true);
                w.frame(false, CONTINUATION, &half, true);
                w.frame(true, CONTINUATION, &half, true);
            }),
            1009,
        ),
        (
            "invalid UTF-8 text",
            Box::new(|w| w.send(TEXT, b"{\"type\":\"\xff\xfe\"}")),
            1007,
        ),
        (
            "UTF-8 split badly across fragments",
            Box::new(|w| {
                w.frame(false, TEXT, b"ok \xe2\x82", true);
                w.frame(true, CONTINUATION, b"x", true);
            }),
            1007,
        ),
        (
            "unmasked",
            Box::new(|w| w.frame(true, BINARY, b"hi\n", false)),
            1002,
        ),
        ("reserved opcode", Box::new(|w| w.send(0x3, b"x")), 1002),
        (
            "reserved control opcode",
            Box::new(|w| w.send(0xB, b"x")),
            1002,
        ),
        (
            "reserved bits",
            Box::new(|w| {
                let mut f = encode(true, BINARY, b"x", true);
                f[0] |= 0x40;
                let _ = w.write_raw(&f);
            }),
            1002,
        ),
        (
            "continuation first",
            Box::new(|w| w.send(CONTINUATION, b"x")),
            1002,
        ),
        (
            "new message inside a fragmented one",
            Box::new(|w| {
                w.frame(false, TEXT, b"{", true);
                w.send(BINARY, b"x");
            }),
            1002,
        ),
        (
            "fragmented ping",
            Box::new(|w| w.frame(false, PING, b"x", true)),
            1002,
        ),
        (
            "ping over 125 bytes",
            Box::new(|w| w.send(PING, &[b'p'; 126])),
            1002,
        ),
        (
            "close code 999",
            Box::new(|w| w.send(CLOSE, &999u16.to_be_bytes())),
            1002,
        ),
        (
            "close code 1005",
            Box::new(|w| w.send(CLOSE, &1005u16.to_be_bytes())),
            1002,
        ),
        (
            "close code 5000",
            Box::new(|w| w.send(CLOSE, &5000u16.to_be_bytes())),
            1002,
        ),
        (
            "close with one byte",
            Box::new(|w| w.send(CLOSE, &[3])),
            1002,
        ),
        (
            "close reason not UTF-8",
            Box::new(|w| w.send(CLOSE, b"\x03\xe8\xff\xfe")),
            1007,
        ),
        // The polite ones, for comparison: the close is answered with the same code.
        (
            "close 1000",
            Box::new(|w| w.send(CLOSE, &1000u16.to_be_bytes())),
            1000,
        ),
        (
            "close 4000",
            Box::new(|w| w.send(CLOSE, &4000u16.to_be_bytes())),
            4000,
        ),
    ];
    for (what, send, code) in cases {
        let mut ws = attach_raw(&s, &sid);
        send(&mut ws);
        assert_eq!(ws.end(), End::Close(code), "{what}");
        assert!(ws.bytes.is_empty(), "{what}: nothing reached cat");
    }
    assert_eq!(s.session(&sid)["status"], "running");
    // Each client's slot is given back a moment after its connection closes.
    let clients = || s.session(&sid)["clients"].clone();
    common::poll_eq(common::TIMEOUT, "no client left", clients, json!(0));
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.send_bytes(b"after\n").await;
    c.read_contains("after").await;
    assert!(
        !common::contains(&c.bytes, "aaa"),
        "no refused frame was typed"
    );
    assert_serving(&s, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_and_out_of_range_messages_get_error_frames() {
    let s = Server::start(&[]);
    let sid = s.run("stty -echo; cat");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    let deep = format!(
        "{{\"type\":\"ack\",\"offset\":1,\"x\":{}1{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let mut bad: Vec<String> = [
        "",
        "null",
        "[]",
        "[\"input\", \"x\"]",
        "\"input\"",
        "{}",
        "{\"type\": null}",
        "{\"type\": 1}",
        "{\"type\": \"INPUT\", \"data\": \"x\"}",
        "{\"type\": \"exec\", \"command\": \"id\"}",
        "{\"type\": \"input\", \"data\": 1}",
        "{\"type\": \"input\", \"data\": null}",
        "{\"type\": \"input\", \"data\": [\"x\"]}",
        "{\"type\": \"ack\", \"offset\": -1}",
        "{\"type\": \"ack\", \"offset\": 1e30}",
        "{\"type\": \"ack\", \"offset\": \"1\"}",
        "{\"type\": \"input\", \"data\": \"x\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    bad.push(deep);
    for resize in [
        "\"cols\": 0, \"rows\": 24",
        "\"cols\": 1001, \"rows\": 24",
        "\"cols\": -1, \"rows\": 24",
        "\"cols\": 1e9, \"rows\": 24",
        "\"cols\": 65536, \"rows\": 24",
        "\"cols\": 4294967376, \"rows\": 24",
        "\"cols\": \"80\", \"rows\": 24",
        "\"cols\": 80.5, \"rows\": 24",
        "\"cols\": null, \"rows\": 24",
        "\"cols\": 80",
        "\"rows\": 24",
        "",
    ] {
        bad.push(format!("{{\"type\": \"resize\", {resize}}}").replace(", }", "}"));
    }
    for msg in &bad {
        c.send_text(msg).await;
        let e = c.text("error").await;
        assert_eq!(e["code"], "bad_request", "{msg}: {e}");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{msg}: {e}"
        );
    }
    // Nothing was typed, nothing resized, and the socket still works.
    c.send_json(json!({"type": "input", "data": "typed\n"}))
        .await;
    c.read_contains("typed").await;
    assert!(
        !common::contains(&c.bytes, "x"),
        "{:?}",
        String::from_utf8_lossy(&c.bytes)
    );
    assert!(
        c.texts.iter().all(|t| t["type"] != "resized"),
        "{:?}",
        c.texts
    );
    let session = s.session(&sid);
    assert_eq!(
        (session["cols"].clone(), session["rows"].clone()),
        (json!(80), json!(24))
    );
    // Binary is input, also when it looks like a control message.
    c.send_bytes(b"{\"type\":\"resize\",\"cols\":10,\"rows\":10}\n")
        .await;
    c.read_contains("\"cols\":10").await;
    assert_eq!(s.session(&sid)["cols"], 80);
    assert!(!c.ended);
    assert_serving(&s, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_costs_bounded_memory_and_blocks_nobody() {
    let s = Server::start(&["--client-timeout", "2s"]);
    let sid = s.run("cat");
    let mut flood = attach_raw(&s, &sid);
    let before = s.rss_kib();
    // 100 000 pings of 125 bytes (about 13 MB) written without reading a single pong.
    let ping = encode(true, PING, &[b'p'; 125], true);
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    let mut other = Client::attach(&s.addr, &sid, "from=0").await;
    let mut written = 0;
    for _ in 0..100 {
        if flood.write_raw(&burst).is_err() {
            break; // the server gave up on this client: fine
        }
        written += 1;
    }
    // Meanwhile another client of the same session is served.
    other.send_bytes(b"during\n").await;
    other.read_contains("during").await;
    let after = s.rss_kib();
    println!("ping flood: {written}k pings written, server RSS {before} KiB -> {after} KiB");
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    // Once the flooder reads again, it is served (its pongs, then the echo of what it types
    // now) or has been closed for not reading (its pongs filled the socket): never left
    // hanging, and never more pongs than pings.
    flood.send(BINARY, b"after-flood\n");
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    let outcome = loop {
        if common::contains(&flood.bytes, "after-flood") {
            break "served".to_owned();
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match flood.next(left) {
            Ok(Some((CLOSE, code))) => break format!("closed with {code:?}"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("the flooder is neither served nor closed"),
            Err(end) => break format!("{end:?}"),
        }
    };
    println!(
        "ping flood: the flooder got {} pongs, then: {outcome}",
        flood.pongs
    );
    assert!(flood.pongs <= written * 1000);
    drop(flood);
    assert_serving(&s, 4).await;
}
