//! Open connections end with their login, against the real binary: a WebSocket and an event
//! stream opened with a token close when a newer login pushes that token out past
//! `--max-tokens`, and when the token reaches `--token-lifetime` (1 minute at least, so that
//! test waits for a minute), each saying why.

mod common;
#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use server::{Client, Events, PASSWORD, Server, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_pushed_out_by_max_tokens_closes_its_connections() {
    let s = Server::start_logged_in(&["--max-tokens", "2"]);
    let oldest = s.token.clone().unwrap();
    let bearer = format!("Bearer {oldest}");
    let sid = s.run("cat");
    let mut ws = Client::attach_with(&s.addr, &sid, "from=0", &[("Authorization", &bearer)]).await;
    let mut events = Events::open_with(&s.addr, Some(&oldest));
    // A second login fits in --max-tokens: the first one's connection still types.
    let second = s.login(PASSWORD);
    ws.send_bytes(b"still-mine\n").await;
    ws.read_contains("still-mine").await;
    // A third pushes the first out: its WebSocket closes at once, saying why, and so does its
    // event stream; the newer logins go on working.
    let _third = s.login(PASSWORD);
    assert_eq!(ws.closed().await, Some(1008), "{}", s.log());
    assert_eq!(ws.close_reason.as_deref(), Some("login revoked"));
    let rest = events
        .ends_within(common::TIMEOUT)
        .expect("the event stream ends");
    assert!(rest.ends_with(": login revoked\n\n"), "{rest:?}");
    let r = http(
        &s.addr,
        "GET",
        "/api/sessions",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let newer = format!("Bearer {second}");
    let mut c = Client::attach_with(&s.addr, &sid, "from=0", &[("Authorization", &newer)]).await;
    c.send_bytes(b"theirs-now\n").await;
    c.read_contains("theirs-now").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_login_closes_its_connections_when_it_expires() {
    let s = Server::start_logged_in(&["--token-lifetime", "1m"]);
    let token = s.token.clone().unwrap();
    let logged_in = Instant::now();
    let bearer = format!("Bearer {token}");
    let sid = s.run("cat");
    let mut ws = Client::attach_with(&s.addr, &sid, "from=0", &[("Authorization", &bearer)]).await;
    let mut events = Events::open_with(&s.addr, Some(&token));
    ws.send_bytes(b"typed-in-time\n").await;
    ws.read_contains("typed-in-time").await;
    // Nothing else happens: at the minute the service closes both by itself (the deadline
    // leaves a slow machine 60 s of slack).
    let code = ws.closed_within(Duration::from_secs(120)).await;
    let lasted = logged_in.elapsed();
    assert_eq!(code, Some(1008), "{}", s.log());
    assert_eq!(ws.close_reason.as_deref(), Some("login expired"));
    // Not before the token's minute was up (whole seconds: the last one may be cut short).
    assert!(lasted >= Duration::from_secs(59), "closed after {lasted:?}");
    let rest = events
        .ends_within(Duration::from_secs(60))
        .expect("the event stream ends");
    assert!(rest.ends_with(": login expired\n\n"), "{rest:?}");
    let r = http(
        &s.addr,
        "GET",
        "/api/sessions",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 401, "{}", r.text());
}
