//! Fuzz target `auth`: the parts of access control that read outside input, as the gate reads
//! them. The input's lines are an `Authorization` value, a `Cookie` value, an `Origin`, a
//! `Host` and a comma-separated `--allowed-origin` list. Checked besides "no panic": a token
//! found is 43 base64url characters, an origin is only ever accepted by name (`http(s)://`,
//! only `https://` over the service's own TLS) or from the list (same scheme), an origin with a
//! port other than its scheme's default never matches a `Host` without a port, and a loopback
//! `Host` really names this machine.
#![no_main]

use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, COOKIE, HeaderValue};
use lanterm::auth::{
    Presented, Transport, host_in_allowed, host_is_loopback, origin_allowed, presented,
};
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
    let o = origin.trim().to_ascii_lowercase();
    for transport in [Transport::Plain, Transport::Tls] {
        if origin_allowed(&origin, Some(&host), &[], transport) {
            let scheme = if transport == Transport::Tls {
                "https://"
            } else {
                "http"
            };
            assert!(
                o.starts_with(scheme) && (o.starts_with("http://") || o.starts_with("https://")),
                "{origin:?} {transport:?}"
            );
            let h = host.trim();
            let explicit = o
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
            if !h.contains(':') && explicit {
                assert!(
                    o.ends_with(":80") || o.ends_with(":443"),
                    "{origin:?} vs portless {host:?}"
                );
            }
        }
        if origin_allowed(&origin, Some(&host), &allowed, transport)
            && !origin_allowed(&origin, Some(&host), &[], transport)
        {
            let scheme = o.split("://").next().unwrap_or_default();
            assert!(
                allowed
                    .iter()
                    .any(|a| a.starts_with(&format!("{scheme}://"))),
                "{origin:?}"
            );
        }
        assert!(
            !origin_allowed(&origin, None, &[], transport),
            "no Host, no match"
        );
        let _ = host_in_allowed(&host, &allowed, transport);
    }
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
});
