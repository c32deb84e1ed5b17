//! Access control of WebSockets and browsers, black-box with the real binary: WebSockets need a
//! login and the right Origin, Origin and Host checks without logins (cross-site requests,
//! WebSocket hijacking, DNS rebinding), and a revoked login closing its open connections.

mod common;
#[path = "common/server.rs"]
mod server;

use std::time::Duration;

use serde_json::{Value, json};
use server::{Client, PASSWORD, Resp, Server, exchange, http, id, set_password, ws_connect_with};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = headers.to_vec();
    all.push(JSON);
    http(addr, "POST", path, &all, body.to_string().as_bytes())
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

/// What a WebSocket attempt came to: "connected", or the error (with its HTTP status).
fn outcome<T>(r: &Result<T, tokio_tungstenite::tungstenite::Error>) -> String {
    match r {
        Ok(_) => "connected".into(),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_need_a_login_and_the_right_origin() {
    let s = Server::start_logged_in(&[]);
    let sid = s.run("echo attached-ok; sleep 30");
    let path = format!("/api/sessions/{sid}/attach?from=0");
    let r = post(&s.addr, "/api/login", &[], &json!({"password": PASSWORD}));
    let cookie = cookie_of(&r);
    let evil = [
        ("Cookie", cookie.as_str()),
        ("Origin", "http://evil.example"),
    ];
    let refused = ws_connect_with(&s.addr, &path, &evil).await;
    assert!(
        outcome(&refused).contains("403"),
        "cross-site WebSocket: {}",
        outcome(&refused)
    );
    let no_origin = ws_connect_with(&s.addr, &path, &[("Cookie", cookie.as_str())]).await;
    assert!(
        outcome(&no_origin).contains("403"),
        "{}",
        outcome(&no_origin)
    );
    let origin = format!("http://{}", s.addr);
    let same = [("Cookie", cookie.as_str()), ("Origin", origin.as_str())];
    let mut c = Client::attach_with(&s.addr, &sid, "from=0", &same).await;
    c.read_contains("attached-ok").await;
    let bearer = format!("Bearer {}", s.token.as_deref().unwrap());
    let mut c = Client::attach_with(&s.addr, &sid, "from=0", &[("Authorization", &bearer)]).await;
    c.read_contains("attached-ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_logins_only_loopback_names_and_same_origin_answer() {
    let s = Server::start(&["--allowed-origin", "https://term.example"]);
    let sid = s.run("echo open-ok; sleep 30");
    // DNS rebinding: a page at evil.example whose name now points at 127.0.0.1.
    let port = s.addr.rsplit(':').next().unwrap();
    for host in [
        format!("evil.example:{port}"),
        format!("192.168.1.9:{port}"),
    ] {
        let head =
            format!("GET /api/sessions HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        exchange(&s.addr, head.as_bytes(), b"").assert_error(403, "forbidden");
    }
    for host in [
        format!("localhost:{port}"),
        s.addr.clone(),
        "term.example".into(),
    ] {
        let head =
            format!("GET /api/sessions HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert_eq!(
            exchange(&s.addr, head.as_bytes(), b"").status,
            200,
            "{host}"
        );
    }
    // Cross-site requests from the user's own browser.
    let body = json!({"command": "true", "cwd": "/"});
    post(
        &s.addr,
        "/api/sessions",
        &[("Origin", "http://evil.example")],
        &body,
    )
    .assert_error(403, "forbidden");
    let ok = post(
        &s.addr,
        "/api/sessions",
        &[("Origin", "https://term.example")],
        &body,
    );
    assert_eq!(ok.status, 201, "an allowed origin: {}", ok.text());
    assert_eq!(
        ok.json()["session"]["created_by"],
        "no login (--no-auth) from 127.0.0.1"
    );
    let path = format!("/api/sessions/{sid}/attach?from=0");
    let refused = ws_connect_with(&s.addr, &path, &[("Origin", "http://evil.example")]).await;
    assert!(outcome(&refused).contains("403"), "{}", outcome(&refused));
    let origin = format!("http://{}", s.addr);
    let mut c = Client::attach_with(&s.addr, &sid, "from=0", &[("Origin", &origin)]).await;
    c.read_contains("open-ok").await;
    assert!(id(&s.create(json!({"command": "true", "cwd": "/"}))).len() == 17);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_login_closes_its_open_connections() {
    let s = Server::start_logged_in(&[]);
    let sid = s.run("echo still-here; sleep 60");
    let other = s.login(PASSWORD);
    let bearer = |t: &str| format!("Bearer {t}");
    let (mine, theirs) = (bearer(s.token.as_deref().unwrap()), bearer(&other));
    let mut kept = Client::attach_with(&s.addr, &sid, "from=0", &[("Authorization", &mine)]).await;
    let mut ended =
        Client::attach_with(&s.addr, &sid, "from=0", &[("Authorization", &theirs)]).await;
    let r = http(
        &s.addr,
        "POST",
        "/api/logout",
        &[("Authorization", &theirs)],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        ended.closed().await,
        Some(1008),
        "logged out: closed with policy"
    );
    // `lanterm passwd` from another process revokes everything, open connections included
    // (the service notices within its 10 s poll).
    let events = server::Events::open_with(&s.addr, s.token.as_deref());
    set_password(&s.dir.db(), "yet another password");
    let closed = tokio::time::timeout(Duration::from_secs(19), kept.closed()).await;
    assert_eq!(closed.ok().flatten(), Some(1008), "{}", s.log());
    let mut events = events;
    assert!(events.ends(), "the event stream ends too");
}
