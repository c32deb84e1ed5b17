//! Access control under the service's own TLS (black-box): the login cookie is `Secure` and
//! named `__Host-lanterm_session`, every answer carries `Strict-Transport-Security`, and a
//! page on `http://` (the same host and port) is not this service's origin.
#![cfg(feature = "tls")]

mod common;
#[path = "common/server.rs"]
mod server;
#[path = "common/tlsclient.rs"]
mod tlsclient;

use std::sync::Arc;

use rustls::ClientConfig;
use serde_json::json;
use server::{Resp, Server};
use tlsclient::{Cert, https_raw, trusting};

/// One request over TLS with `headers` and a JSON `body`.
fn request(
    s: &Server,
    tls: &Arc<ClientConfig>,
    head: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut h = format!(
        "{head} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        s.addr
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    https_raw(&s.addr, tls, h.as_bytes()).0
}

#[test]
fn over_tls_the_cookie_is_host_prefixed_and_secure_hsts_is_sent_and_http_origins_are_refused() {
    let dir = common::TempDir::new("tls-access");
    let cert = Cert::new(dir.path(), "board");
    let s = Server::start_with_auth(&cert.flags());
    let tls = trusting(&[&cert]);
    let log = s.log();
    let at = log.find("/#setup=").expect("a setup link") + "/#setup=".len();
    let setup: String = log[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect();
    let body = json!({"password": "a long password", "setup_token": setup}).to_string();
    let r = request(&s, &tls, "POST /api/password", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let set = r.header("set-cookie").expect("a cookie").to_string();
    assert!(
        set.starts_with("__Host-lanterm_session=") && set.contains("; Secure"),
        "{set}"
    );
    assert!(set.contains("Path=/") && !set.contains("Domain"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let page = request(&s, &tls, "GET /", &[], "");
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000")
    );

    let create = json!({"command": "true", "cwd": "/"}).to_string();
    let https_origin = format!("https://{}", s.addr);
    let http_origin = format!("http://{}", s.addr);
    for (origin, status) in [(http_origin.as_str(), 403), (https_origin.as_str(), 201)] {
        let headers = [("Cookie", cookie.as_str()), ("Origin", origin)];
        let r = request(&s, &tls, "POST /api/sessions", &headers, &create);
        assert_eq!(r.status, status, "{origin}: {}", r.text());
    }
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Origin", https_origin.as_str()),
    ];
    let out = request(&s, &tls, "POST /api/logout", &headers, "");
    assert_eq!(out.status, 204, "{}", out.text());
    let cleared: Vec<&str> = out
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("__Host-lanterm_session=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
}
