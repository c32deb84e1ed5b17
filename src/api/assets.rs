//! The browser UI's files, embedded pre-compressed at build time (`build.rs` from `web/dist/`),
//! served with strong ETags: hashed names are cached for a year, the page itself revalidated.
//! They are public (the login page needs them) and hold no secrets.

use hyper::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderMap,
    HeaderValue, IF_NONE_MATCH, VARY,
};

/// The page's Content-Security-Policy. `ws:`/`wss:` because Safari before 15.4 does not count
/// a same-origin WebSocket as `'self'`.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; manifest-src 'self'; \
frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";
use hyper::{Response as HttpResponse, StatusCode};

use super::respond::{Body, Response};

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

/// The answer for `asset`: 304 when the client's copy is current, else the bytes.
pub fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let fresh = request
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == asset.etag));
    let mut r = if fresh {
        let mut r = HttpResponse::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        HttpResponse::new(Body::Full(Some(asset.body.into())))
    };
    let h = r.headers_mut();
    h.insert(ETAG, HeaderValue::from_static(asset.etag));
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
    if !fresh {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        if asset.gzip {
            // Every browser accepts gzip; the files are kept only in this form (as ttyd does).
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
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
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, HeaderValue::from_static(page.etag));
        assert_eq!(serve(page, &h).status(), StatusCode::NOT_MODIFIED);
        let r = serve(page, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
        let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    }
}
