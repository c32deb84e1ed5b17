//! The browser UI's files, embedded pre-compressed at build time (`build.rs` from `web/dist/`),
//! served with strong ETags: hashed names are cached for a year, the page itself revalidated.
//! They are public (the login page needs them) and hold no secrets. A client whose
//! `Accept-Encoding` does not take gzip gets the file inflated (with an ETag of its own).

use hyper::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    HeaderMap, HeaderValue, IF_NONE_MATCH, VARY,
};

/// The page's Content-Security-Policy. `connect-src 'self'` covers the page's own WebSocket in
/// current browsers (CSP Level 3; Safari from 15.4); `ws:`/`wss:` would allow any host.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";
use hyper::{Response as HttpResponse, StatusCode};

use super::respond::{self, Body, Response};
use crate::model::error::Error;

/// One embedded file.
pub struct Asset {
    /// Path below the UI's root, e.g. `index.html`, `assets/app-1a2b3c4d5e.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// `body` is gzip-compressed.
    pub gzip: bool,
    pub etag: &'static str,
    /// The name carries a content hash: cache it forever.
    pub immutable: bool,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset for a request path (`/` is the page), if there is one. Only exact names match, so
/// no path (`..`, `%2e%2e`, NUL) can reach anything else.
pub fn find(path: &str) -> Option<&'static Asset> {
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        other => other,
    };
    ASSETS.iter().find(|a| a.path == name)
}

/// Bytes of all embedded assets as stored (compressed), for the record.
pub fn embedded_bytes() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

/// Whether the request's `Accept-Encoding` takes gzip: `gzip` (or `x-gzip`, or `*` when gzip
/// is not named) with a quality above 0.
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut star = false;
    for value in request.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match name.as_str() {
                "gzip" | "x-gzip" => return q > 0.0,
                "*" => star = q > 0.0,
                _ => {}
            }
        }
    }
    star
}

/// A gzip member's DEFLATE data, inflated (the embedded files are ours, so their size is known
/// to be small; the limit is a backstop).
fn gunzip(gz: &[u8]) -> Option<Vec<u8>> {
    const LIMIT: usize = 64 << 20;
    let (&flags, rest) = gz.strip_prefix(&[0x1f, 0x8b, 8])?.split_first()?;
    let mut data = rest.get(6..)?; // mtime, extra flags, OS
    if flags & 4 != 0 {
        let len = usize::from(u16::from_le_bytes([*data.first()?, *data.get(1)?]));
        data = data.get(2 + len..)?;
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            data = data.get(data.iter().position(|&b| b == 0)? + 1..)?;
        }
    }
    if flags & 2 != 0 {
        data = data.get(2..)?;
    }
    miniz_oxide::inflate::decompress_to_vec_with_limit(data, LIMIT).ok()
}

/// The answer for `asset`: 304 when the client's copy is current, else the bytes, gzip-encoded
/// when the client takes it.
pub fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let inflate = asset.gzip && !accepts_gzip(request);
    let etag = if inflate {
        // Another representation, another strong ETag: `"hash-identity"`.
        let tag = asset.etag.trim_end_matches('"');
        HeaderValue::from_str(&format!("{tag}-identity\""))
    } else {
        Ok(HeaderValue::from_static(asset.etag))
    };
    let Ok(etag) = etag else {
        return respond::error(&Error::internal("a bad ETag"));
    };
    let fresh = request
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim().as_bytes() == etag.as_bytes())
        });
    let mut r = if fresh {
        let mut r = HttpResponse::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if inflate {
        let Some(plain) = gunzip(asset.body) else {
            return respond::error(&Error::internal(format!("inflating {}", asset.path)));
        };
        HttpResponse::new(Body::Full(Some(plain.into())))
    } else {
        HttpResponse::new(Body::Full(Some(asset.body.into())))
    };
    let h = r.headers_mut();
    h.insert(ETAG, etag);
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if asset.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    if asset.content_type.starts_with("text/html") {
        // Scripts and styles from our own files only (xterm.js sets inline styles), no framing
        // by other sites (clickjacking a terminal), connections back to this service only.
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
    if asset.gzip {
        h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if !fresh {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        if !inflate && asset.gzip {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_always_there_and_nothing_else_is_reachable() {
        assert!(find("/").is_some_and(|a| a.path == "index.html"));
        assert!(find("/index.html").is_some());
        for bad in [
            "/../Cargo.toml",
            "/%2e%2e/etc/passwd",
            "/assets/../index.html",
            "/\0",
            "/api",
        ] {
            assert!(find(bad).is_none(), "{bad:?}");
        }
        assert!(embedded_bytes() > 0);
    }

    #[test]
    fn etags_make_revalidation_cheap() {
        let page = find("/").unwrap();
        let mut h = accept("gzip");
        h.insert(IF_NONE_MATCH, HeaderValue::from_static(page.etag));
        assert_eq!(serve(page, &h).status(), StatusCode::NOT_MODIFIED);
        // Without gzip: the inflated page, under an ETag of its own.
        let plain = serve(page, &HeaderMap::new());
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(plain.headers().get(CONTENT_ENCODING).is_none());
        let tag = plain.headers()[ETAG].clone();
        assert_eq!(tag == page.etag, !page.gzip);
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, tag);
        assert_eq!(serve(page, &h).status(), StatusCode::NOT_MODIFIED);
        let r = serve(page, &accept("gzip"));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
        let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
        assert!(
            csp.contains("connect-src 'self';") && !csp.contains("ws:"),
            "WebSockets back to this service only: {csp}"
        );
    }

    fn accept(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn gzip_only_when_the_client_takes_it() {
        for (value, ok) in [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("br;q=1.0, GZIP;q=0.5", true),
            ("x-gzip", true),
            ("*", true),
            ("gzip;q=0", false),
            ("gzip;q=0, *", false),
            ("identity", false),
            ("deflate, br", false),
            ("*;q=0", false),
        ] {
            assert_eq!(accepts_gzip(&accept(value)), ok, "{value}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn gzip_members_inflate() {
        // `printf 'hello' | gzip -n`, and the same with a file name (FNAME).
        let plain: &[u8] = &[
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0, 0x86, 0xa6,
            0x10, 0x36, 5, 0, 0, 0,
        ];
        assert_eq!(gunzip(plain).as_deref(), Some(&b"hello"[..]));
        let mut named = plain.to_vec();
        named[3] = 8;
        named.splice(10..10, *b"h.txt\0");
        assert_eq!(gunzip(&named).as_deref(), Some(&b"hello"[..]));
        assert_eq!(gunzip(b"not gzip"), None);
        assert_eq!(gunzip(&plain[..5]), None);
    }
}
