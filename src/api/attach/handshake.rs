//! The WebSocket opening handshake of RFC 6455 (4.2.1 and 4.2.2): a request that is not a
//! proper one (HTTP/1.1, `Connection: Upgrade`, `Upgrade: websocket`, version 13, a key of 16
//! bytes in base64) is refused with `400` before anything is upgraded; a good one gets its
//! `101` answer.

use hyper::header::{
    CONNECTION, HeaderMap, HeaderName, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Request, StatusCode, Version};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::api::respond::{self, Body, Response};
use crate::model::error::Error;

/// The accept key for a proper handshake, else the `400` to answer (naming the version we
/// speak when that was the problem, as 4.4 asks).
pub fn check<B>(req: &Request<B>) -> Result<String, Box<Response>> {
    let h = req.headers();
    let refuse = |what: &str| {
        Box::new(respond::error(&Error::bad_request(format!(
            "this endpoint is a WebSocket (RFC 6455): {what}"
        ))))
    };
    if req.version() != Version::HTTP_11 {
        return Err(refuse("the handshake needs HTTP/1.1"));
    }
    if !has_token(h, &UPGRADE, "websocket") || !has_token(h, &CONNECTION, "upgrade") {
        return Err(refuse("send Connection: Upgrade and Upgrade: websocket"));
    }
    if h.get(SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        let mut r = refuse("only Sec-WebSocket-Version 13 is spoken");
        r.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(r);
    }
    match h.get(SEC_WEBSOCKET_KEY).map(HeaderValue::as_bytes) {
        Some(key) if is_key(key) => Ok(derive_accept_key(key)),
        _ => Err(refuse("Sec-WebSocket-Key must be 16 bytes in base64")),
    }
}

/// The `101 Switching Protocols` answer for `accept`.
pub fn switching(accept: &str) -> Response {
    let mut response = hyper::Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

/// Whether a comma-separated header (any of its lines) lists `token`, in any case.
fn has_token(h: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// 16 bytes in base64: 22 digits, the last of which carries 2 bits, then `==`.
fn is_key(key: &[u8]) -> bool {
    let digit = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    key.len() == 24
        && key[..22].iter().all(digit)
        && b"AQgw".contains(&key[21])
        && &key[22..] == b"=="
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(lines: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::get("/");
        for (k, v) in lines {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    const GOOD: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn a_proper_handshake_gets_the_rfc_accept_key() {
        // The example of RFC 6455, 1.3.
        let accept = check(&request(&GOOD)).ok();
        assert_eq!(accept.as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    }

    #[test]
    fn anything_else_is_400() {
        for (skip, missing) in GOOD.iter().enumerate() {
            let lines: Vec<_> = GOOD
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| *l)
                .collect();
            let r = check(&request(&lines)).unwrap_err();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "without {missing:?}");
        }
        for key in [
            "",
            "eA==",
            "dGhlIHNhbXBsZSBub25jZR==",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "!!!!!!!!!!!!!!!!!!!!!A==",
        ] {
            let mut lines = GOOD.to_vec();
            lines[3].1 = key;
            assert!(check(&request(&lines)).is_err(), "{key:?}");
        }
        let mut lines = GOOD.to_vec();
        lines[2].1 = "8";
        let r = check(&request(&lines)).unwrap_err();
        assert_eq!(r.headers()[SEC_WEBSOCKET_VERSION], "13");
        let mut old = request(&GOOD);
        *old.version_mut() = Version::HTTP_10;
        assert!(check(&old).is_err());
    }
}
