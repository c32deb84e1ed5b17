//! Access control, round 2, black-box with the real binary: a page on another port of a host
//! reached without a port cannot act with the login cookie (the cross-port hijack), changing
//! the password needs the current one, a burst of wrong logins from one address gets no more
//! than the limit checked while the owner still gets in at once, the setup link keeps its token
//! out of request lines and a login does not say that no password is set, and what every
//! answer carries (`Cache-Control: no-store` on the API, gzip only when asked for).

mod common;
#[path = "common/server.rs"]
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::{PASSWORD, Resp, Server, exchange, http, parse_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Barrier;

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn post(s: &Server, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = headers.to_vec();
    all.push(JSON);
    http(&s.addr, "POST", path, &all, body.to_string().as_bytes())
}

/// A request with the `Host` header `host` (as a reverse proxy passes it on) and `headers`.
fn as_host(s: &Server, head: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut h = format!("{head} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    exchange(&s.addr, h.as_bytes(), body)
}

/// The login cookie (`name=value`) of a password login.
fn cookie(s: &Server) -> String {
    let r = post(s, "/api/login", &[], &json!({"password": PASSWORD}));
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.header("set-cookie").expect("a cookie");
    c.split(';').next().unwrap().to_string()
}

#[test]
fn a_page_on_another_port_of_a_portless_host_cannot_use_the_cookie() {
    let s = Server::start_logged_in(&[]);
    let sid = s.run("echo hijack-target; sleep 60");
    let cookie = cookie(&s);
    let body = json!({"command": "true", "cwd": "/"}).to_string();
    // Behind a reverse proxy the service is `board`: no port in `Host`.
    let create = |origin: &str| {
        let headers = [("Cookie", cookie.as_str()), ("Origin", origin), JSON];
        as_host(&s, "POST /api/sessions", "board", &headers, body.as_bytes())
    };
    for evil in [
        "http://board:8080",
        "https://board:8443",
        "http://board:443",
        "http://board:7700",
    ] {
        create(evil).assert_error(403, "forbidden");
    }
    for own in ["http://board", "https://board", "http://board:80"] {
        let r = create(own);
        assert_eq!(r.status, 201, "{own}: {}", r.text());
    }
    // The WebSocket: the attack reproduced in Chromium (web/test/cross-port.test.mjs).
    let attach = |origin: &str| {
        let head = format!(
            "GET /api/sessions/{sid}/attach?from=0 HTTP/1.1\r\nHost: board\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: {cookie}\r\n\
             Origin: {origin}\r\n\r\n"
        );
        exchange(&s.addr, head.as_bytes(), b"")
    };
    attach("http://board:8080").assert_error(403, "forbidden");
    assert_eq!(attach("http://board").status, 101);
}

#[test]
fn without_logins_a_portless_host_is_an_allowed_origin_only_on_its_default_port() {
    let s = Server::start(&["--allowed-origin", "http://term.example:8080"]);
    let get = |host: &str| as_host(&s, "GET /api/sessions", host, &[], b"");
    assert_eq!(get("term.example:8080").status, 200);
    get("term.example").assert_error(403, "forbidden");
    get("term.example:80").assert_error(403, "forbidden");
}

#[test]
fn changing_the_password_needs_the_current_one() {
    let s = Server::start_logged_in(&["--login-attempts", "3", "--login-window", "1h"]);
    let bearer = format!("Bearer {}", s.token.as_deref().unwrap());
    let auth = [("Authorization", bearer.as_str())];
    let new = "a brand new password";
    post(&s, "/api/password", &auth, &json!({"password": new})).assert_error(400, "bad_request");
    let wrong = json!({"password": new, "current_password": "not the password"});
    post(&s, "/api/password", &auth, &wrong).assert_error(401, "unauthorized");
    let short = json!({"password": "short", "current_password": PASSWORD});
    post(&s, "/api/password", &auth, &short).assert_error(400, "bad_request");
    // A 401 here does not end the login: the token still works.
    assert_eq!(s.get("/api/sessions").status, 200);
    let right = json!({"password": new, "current_password": PASSWORD});
    let r = post(&s, "/api/password", &auth, &right);
    assert_eq!(r.status, 200, "{}", r.text());
    let fresh = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    s.get("/api/sessions").assert_error(401, "unauthorized");
    // Wrong current passwords count as failed logins of the address.
    let auth = [("Authorization", fresh.as_str())];
    let wrong = json!({"password": "yet another one", "current_password": PASSWORD});
    for _ in 0..3 {
        post(&s, "/api/password", &auth, &wrong).assert_error(401, "unauthorized");
    }
    post(&s, "/api/login", &[], &json!({"password": new})).assert_error(429, "too_many_requests");
    assert!(
        s.log().contains("failed login from 127.0.0.1"),
        "{}",
        s.log()
    );
}

#[test]
fn without_logins_no_password_can_be_set() {
    let s = Server::start(&[]);
    post(
        &s,
        "/api/password",
        &[],
        &json!({"password": "anyone's choice"}),
    )
    .assert_error(403, "forbidden");
    let r = post(
        &s,
        "/api/password",
        &[],
        &json!({"password": "anyone's choice", "current_password": "x"}),
    );
    r.assert_error(403, "forbidden");
}

/// A login POSTed from `source` (any of 127/8 works on Linux); the whole request but its
/// last byte is sent before `start` is passed, so a burst arrives together.
async fn login_from(source: &str, addr: &str, password: &str, start: Option<Arc<Barrier>>) -> Resp {
    let body = json!({ "password": password }).to_string();
    let request = format!(
        "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let (head, last) = request.as_bytes().split_at(request.len() - 1);
    stream.write_all(head).await.unwrap();
    if let Some(start) = start {
        start.wait().await;
    }
    stream.write_all(last).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(common::TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .unwrap();
    parse_response(&raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_logins_gets_no_more_than_the_limit_checked_and_the_owner_gets_in() {
    const BURST: usize = 40;
    const ATTEMPTS: usize = 5;
    let s = Server::start_logged_in(&[
        "--login-attempts",
        "5",
        "--login-window",
        "1h",
        // the burst comes from one address: more than its default share of connections
        "--max-per-address",
        "64",
    ]);
    let start = Arc::new(Barrier::new(BURST + 1));
    let (tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..BURST {
        let (addr, start, tx) = (s.addr.clone(), start.clone(), tx.clone());
        tokio::spawn(async move {
            let r = login_from("127.0.0.3", &addr, &format!("guess {n}"), Some(start)).await;
            let _ = tx.send(r.status);
        });
    }
    drop(tx);
    start.wait().await;
    // The owner logs in from another address while the burst is being answered.
    let first = tokio::time::timeout(common::TIMEOUT, answers.recv()).await;
    let mut statuses = vec![first.expect("a first answer").expect("a status")];
    let t = Instant::now();
    let owner = login_from("127.0.0.2", &s.addr, PASSWORD, None).await;
    let took = t.elapsed();
    println!("the owner's login during the burst took {took:?}");
    assert_eq!(owner.status, 200, "{}", owner.text());
    assert!(
        took < Duration::from_secs(5),
        "the owner waited {took:?} behind the burst"
    );
    while let Some(status) = tokio::time::timeout(common::TIMEOUT, answers.recv())
        .await
        .expect("every answer in time")
    {
        statuses.push(status);
    }
    let checked = statuses.iter().filter(|&&st| st == 401).count();
    let refused = statuses.iter().filter(|&&st| st == 429).count();
    println!("{checked} of {BURST} checked (401), {refused} refused (429)");
    assert_eq!(checked + refused, BURST, "{statuses:?}");
    assert!(
        (1..=ATTEMPTS).contains(&checked),
        "{checked} of {BURST} wrong passwords were checked"
    );
}

#[test]
fn the_setup_link_keeps_its_token_in_the_fragment_and_logins_do_not_tell_that_none_is_set() {
    let s = Server::start_with_auth(&[]);
    let log = s.log();
    assert!(
        log.contains("/#setup=") && !log.contains("?setup="),
        "{log}"
    );
    let no_password = post(
        &s,
        "/api/login",
        &[],
        &json!({"password": "anything at all"}),
    );
    let text = no_password.text();
    no_password.assert_error(401, "unauthorized");
    assert!(
        !text.contains("setup") && !text.contains("no password") && !text.contains("passwd"),
        "{text}"
    );
}

#[test]
fn api_answers_are_never_stored_and_gzip_goes_only_to_clients_that_take_it() {
    let s = Server::start_with_auth(&[]);
    for (method, path) in [
        ("GET", "/api/health"),
        ("GET", "/api/sessions"),
        ("POST", "/api/login"),
        ("GET", "/api/nothing"),
        ("GET", "/metrics"),
    ] {
        let r = http(&s.addr, method, path, &[JSON], b"{}");
        assert_eq!(
            r.header("cache-control"),
            Some("no-store"),
            "{method} {path}"
        );
    }
    // The page: gzip only when offered; without, the HTML itself.
    let plain = http(&s.addr, "GET", "/", &[], b"");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert!(
        plain
            .text()
            .to_ascii_lowercase()
            .starts_with("<!doctype html>"),
        "{:?}",
        &plain.text()[..plain.text().len().min(80)]
    );
    assert_ne!(plain.header("cache-control"), Some("no-store"));
    for refuses in ["identity", "gzip;q=0", "br, deflate"] {
        let r = http(&s.addr, "GET", "/", &[("Accept-Encoding", refuses)], b"");
        assert_eq!(r.header("content-encoding"), None, "{refuses}");
        assert_eq!(r.body, plain.body, "{refuses}");
    }
    let gz = http(
        &s.addr,
        "GET",
        "/",
        &[("Accept-Encoding", "gzip, deflate")],
        b"",
    );
    if gz.header("content-encoding") == Some("gzip") {
        assert_eq!(&gz.body[..2], &[0x1f, 0x8b]);
        assert_ne!(
            gz.header("etag"),
            plain.header("etag"),
            "two representations"
        );
        assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    }
}

#[test]
fn behind_a_tls_proxy_an_https_page_gets_a_secure_host_prefixed_cookie() {
    let s = Server::start_logged_in(&[]);
    let login = json!({"password": PASSWORD}).to_string();
    let from = |origin: Option<&str>| {
        let mut headers = vec![JSON];
        if let Some(o) = origin {
            headers.push(("Origin", o));
        }
        as_host(&s, "POST /api/login", "board", &headers, login.as_bytes())
    };
    let https = from(Some("https://board"));
    let c = https.header("set-cookie").expect("a cookie");
    assert!(
        c.starts_with("__Host-lanterm_session=") && c.ends_with("; Secure"),
        "{c}"
    );
    assert_eq!(
        https.header("strict-transport-security"),
        None,
        "not our TLS"
    );
    // The page the proxy serves then sends the `__Host-` cookie, which admits it.
    let cookie = c.split(';').next().unwrap();
    let r = as_host(&s, "GET /api/sessions", "board", &[("Cookie", cookie)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    for origin in [None, Some("http://board")] {
        let r = from(origin);
        let c = r.header("set-cookie").expect("a cookie");
        assert!(
            c.starts_with("lanterm_session=") && !c.contains("Secure"),
            "{origin:?}: {c}"
        );
    }
}
