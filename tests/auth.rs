//! Access control, black-box with the real binary: what answers without credentials, the
//! first-run setup link, `lanterm passwd`, login by bearer token and by cookie, logout, the
//! failed-login limiter, and who a session records as having asked for it. (WebSockets, Origin
//! and Host checks: `tests/auth_websockets.rs`.)

mod common;
#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::{PASSWORD, Resp, Server, exchange, http, passwd, set_password};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = headers.to_vec();
    all.push(JSON);
    http(addr, "POST", path, &all, body.to_string().as_bytes())
}

fn upgrade_head(addr: &str, path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// The `name=value` of a `Set-Cookie` answer, checked for the contract's attributes.
fn cookie_of(r: &Resp) -> String {
    let c = r.header("set-cookie").expect("a Set-Cookie header");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(c.contains(attr), "{c}");
    }
    assert!(!c.contains("Secure"), "no Secure on plain HTTP: {c}");
    c.split(';').next().unwrap().to_string()
}

/// The setup link's token from the log of a server started with no password (in the link's
/// fragment, `/#setup=TOKEN`).
fn setup_token(s: &Server) -> String {
    let log = s.log();
    let at = log
        .find("/#setup=")
        .unwrap_or_else(|| panic!("no setup link in: {log}"))
        + 1;
    log[at + 7..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect()
}

#[test]
fn without_credentials_only_health_login_and_the_page_answer() {
    let s = Server::start_with_auth(&[]);
    let r = s.get("/api/health");
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"status": "ok"})),
        "no details"
    );
    let page = s.get("/");
    assert_eq!(page.status, 200, "the login page loads");
    // Not to be framed by another site (clickjacking), nor to leak a setup link as Referer.
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(
        page.header("content-security-policy")
            .is_some_and(|p| p.contains("frame-ancestors 'none'"))
    );
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let a = "AAAAAAAAAAAAAAAAA";
    let endpoints = [
        ("GET", "/api/sessions".to_string()),
        ("POST", "/api/sessions".into()),
        ("GET", format!("/api/sessions/{a}")),
        ("PATCH", format!("/api/sessions/{a}")),
        ("DELETE", format!("/api/sessions/{a}")),
        ("POST", format!("/api/sessions/{a}/input")),
        ("POST", format!("/api/sessions/{a}/resize")),
        ("POST", format!("/api/sessions/{a}/stop")),
        ("GET", format!("/api/sessions/{a}/output")),
        ("GET", "/api/events".into()),
        ("GET", "/metrics".into()),
        ("POST", "/api/logout".into()),
        ("GET", "/api/nothing".into()),
    ];
    for (method, path) in &endpoints {
        let r = post_or(&s.addr, method, path);
        assert_eq!(r.error_code(401), "unauthorized", "{method} {path}");
    }
    // The message says what to do, as one readable sentence (no run of spaces in it).
    let message = post_or(&s.addr, "GET", "/api/sessions").json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("send the token as \"Authorization: Bearer <token>\"")
            && !message.contains("  "),
        "{message:?}"
    );
    let attach = format!("/api/sessions/{a}/attach");
    exchange(&s.addr, &upgrade_head(&s.addr, &attach, ""), b"").assert_error(401, "unauthorized");
    // Junk credentials are no better than none.
    let junk = [(
        "Authorization",
        "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )];
    http(&s.addr, "GET", "/api/sessions", &junk, b"").assert_error(401, "unauthorized");
    http(
        &s.addr,
        "GET",
        "/api/sessions",
        &[("Authorization", "Basic eDp5")],
        b"",
    )
    .assert_error(401, "unauthorized");
    // No password yet: a login is answered as a wrong password, telling nobody that none is set.
    let r = post(
        &s.addr,
        "/api/login",
        &[],
        &json!({"password": "anything at all"}),
    );
    assert_eq!(
        r.json(),
        json!({"error": {"code": "unauthorized", "message": "wrong password"}})
    );
}

fn post_or(addr: &str, method: &str, path: &str) -> Resp {
    http(addr, method, path, &[JSON], b"{}")
}

#[test]
fn setup_link_login_bearer_cookie_and_logout() {
    let s = Server::start_with_auth(&[]);
    let setup = setup_token(&s);
    let wrong = post(
        &s.addr,
        "/api/password",
        &[],
        &json!({"password": "p4ssw0rd!", "setup_token": "x"}),
    );
    wrong.assert_error(401, "unauthorized");
    let short = post(
        &s.addr,
        "/api/password",
        &[],
        &json!({"password": "short", "setup_token": setup}),
    );
    short.assert_error(400, "bad_request");
    let r = post(
        &s.addr,
        "/api/password",
        &[],
        &json!({"password": PASSWORD, "setup_token": setup}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json()["token"].as_str().unwrap().to_string();
    let again = post(
        &s.addr,
        "/api/password",
        &[],
        &json!({"password": "other one!", "setup_token": setup}),
    );
    again.assert_error(403, "forbidden");

    // Bearer.
    let bearer = format!("Bearer {first}");
    let r = http(
        &s.addr,
        "GET",
        "/api/sessions",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let health = http(
        &s.addr,
        "GET",
        "/api/health",
        &[("Authorization", &bearer)],
        b"",
    );
    assert!(
        health.json()["version"].is_string(),
        "details when logged in"
    );

    // Password login: wrong, then right, with its cookie.
    post(
        &s.addr,
        "/api/login",
        &[],
        &json!({"password": "wrong password"}),
    )
    .assert_error(401, "unauthorized");
    let r = post(&s.addr, "/api/login", &[], &json!({"password": PASSWORD}));
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = cookie_of(&r);
    let second = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(cookie, format!("lanterm_session={second}"));
    let origin = format!("http://{}", s.addr);
    let by_cookie = |method: &str, path: &str, origin: Option<&str>| {
        let mut h = vec![("Cookie", cookie.as_str()), JSON];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        http(
            &s.addr,
            method,
            path,
            &h,
            json!({"command": "true", "cwd": "/"})
                .to_string()
                .as_bytes(),
        )
    };
    assert_eq!(
        by_cookie("GET", "/api/sessions", None).status,
        200,
        "reading needs no Origin"
    );
    by_cookie("POST", "/api/sessions", None).assert_error(403, "forbidden");
    by_cookie("POST", "/api/sessions", Some("http://evil.example")).assert_error(403, "forbidden");
    let r = by_cookie("POST", "/api/sessions", Some(&origin));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()["session"]["created_by"],
        "browser login from 127.0.0.1"
    );
    let r = post(
        &s.addr,
        "/api/sessions",
        &[("Authorization", &bearer)],
        &json!({"command": "true", "cwd": "/"}),
    );
    assert_eq!(
        r.status,
        201,
        "a bearer token needs no Origin: {}",
        r.text()
    );
    assert_eq!(
        r.json()["session"]["created_by"],
        "bearer token from 127.0.0.1"
    );

    // Logout ends that login only.
    let r = http(
        &s.addr,
        "POST",
        "/api/logout",
        &[("Cookie", &cookie), ("Origin", &origin)],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    by_cookie("GET", "/api/sessions", None).assert_error(401, "unauthorized");
    let r = http(
        &s.addr,
        "GET",
        "/api/sessions",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 200, "the other login lives on");
}

#[test]
fn passwd_sets_the_password_and_revokes_every_login_at_once() {
    let s = Server::start_logged_in(&[]);
    assert_eq!(s.get("/api/sessions").status, 200);
    assert!(
        !s.log().contains("setup="),
        "a password was set: no setup link"
    );
    let out = passwd(&s.dir.db(), "short");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 8"),
        "{out:?}"
    );
    assert_eq!(
        s.get("/api/sessions").status,
        200,
        "a refused change changes nothing"
    );
    set_password(&s.dir.db(), "a new password");
    s.get("/api/sessions").assert_error(401, "unauthorized");
    post(&s.addr, "/api/login", &[], &json!({"password": PASSWORD}))
        .assert_error(401, "unauthorized");
    assert_eq!(s.login("a new password").len(), 43);
}

#[test]
fn failed_logins_are_slowed_then_refused_per_address() {
    let s = Server::start_logged_in(&["--login-attempts", "5", "--login-window", "1h"]);
    let wrong = json!({"password": "not the password"});
    let mut slowest = Duration::ZERO;
    for n in 1..=5 {
        let t = Instant::now();
        post(&s.addr, "/api/login", &[], &wrong).assert_error(401, "unauthorized");
        if n >= 4 {
            slowest = slowest.max(t.elapsed());
        }
    }
    assert!(
        slowest >= Duration::from_millis(250),
        "the 4th and 5th failures are slowed down"
    );
    let r = post(&s.addr, "/api/login", &[], &json!({"password": PASSWORD}));
    r.assert_error(429, "too_many_requests");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry > 3000 && retry <= 3600, "{retry}");
    // Another address is not locked out.
    let other = from_source("127.0.0.2", &s.addr, &json!({"password": PASSWORD}));
    assert!(other.contains(" 200 "), "{other}");
    assert!(s.log().contains("failed login from 127.0.0.1"));
}

/// A login POSTed from source address `source` (any of 127/8 works on Linux); the raw answer.
fn from_source(source: &str, addr: &str, body: &Value) -> String {
    use std::io::{Read, Write};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let std_stream = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let stream = sock.connect(addr.parse().unwrap()).await.unwrap();
        stream.into_std().unwrap()
    });
    std_stream.set_nonblocking(false).unwrap();
    std_stream.set_read_timeout(Some(common::TIMEOUT)).unwrap();
    let mut stream = std_stream;
    let body = body.to_string();
    write!(
        stream,
        "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}
