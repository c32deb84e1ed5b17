//! Fuzz target `auth`: the parts of access control that read outside input, as the gate reads
//! them. The input's lines are an `Authorization` value, a `Cookie` value, an `Origin`, a
//! `Host` and a comma-separated `--allowed-origin` list. Checked besides "no panic": a token
//! found is 43 base64url characters, an origin is only ever accepted by name (`http(s)://`) or
//! from the list, and a loopback `Host` really names this machine.
#![no_main]

use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, COOKIE, HeaderValue};
use lanterm::auth::{Presented, host_in_allowed, host_is_loopback, origin_allowed, presented};
use libfuzzer_sys::fuzz_target;

fn token_shaped(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let mut next = || lines.next().unwrap_or_default();
    let (authorization, cookie, origin, host, allowed) = (next(), next(), next(), next(), next());

    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(authorization)
        && !authorization.is_empty()
    {
        headers.insert(AUTHORIZATION, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(cookie) {
        headers.append(COOKIE, v);
    }
    match presented(&headers) {
        Ok(Presented::Bearer(t)) | Ok(Presented::Cookie(t)) => assert!(token_shaped(t), "{t:?}"),
        Ok(Presented::Nothing) | Err(_) => {}
    }

    let origin = String::from_utf8_lossy(origin);
    let host = String::from_utf8_lossy(host);
    let allowed: Vec<String> = String::from_utf8_lossy(allowed)
        .split(',')
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        .collect();
    if origin_allowed(&origin, Some(&host), &[]) {
        let o = origin.trim().to_ascii_lowercase();
        assert!(
            o.starts_with("http://") || o.starts_with("https://"),
            "{origin:?}"
        );
    }
    if origin_allowed(&origin, Some(&host), &allowed) && !origin_allowed(&origin, Some(&host), &[])
    {
        assert!(
            allowed.contains(&origin.trim().to_ascii_lowercase()),
            "{origin:?}"
        );
    }
    assert!(!origin_allowed(&origin, None, &[]), "no Host, no match");
    if host_is_loopback(&host) {
        let h = host.trim().to_ascii_lowercase();
        assert!(
            h.starts_with("localhost")
                || h.contains(".localhost")
                || h.starts_with("127.")
                || h.starts_with("[::1]"),
            "{host:?}"
        );
    }
    let _ = host_in_allowed(&host, &allowed);
});
