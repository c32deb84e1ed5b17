//! The embedded browser UI is served as a browser expects: the page revalidated by ETag, hashed
//! files cached for good, everything gzip-compressed when built (for clients that take gzip),
//! no other file reachable.

mod common;
#[path = "common/server.rs"]
mod server;

use server::{Server, http};

#[test]
fn the_page_and_its_files_are_served_with_caching_headers() {
    let s = Server::start(&[]);
    let page = http(&s.addr, "GET", "/", &[("Accept-Encoding", "gzip")], b"");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let etag = page.header("etag").expect("an ETag").to_string();
    let again = http(
        &s.addr,
        "GET",
        "/",
        &[("If-None-Match", &etag), ("Accept-Encoding", "gzip")],
        b"",
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    // Built UI: gzip bytes, and every file the page names is there and cached for a year.
    if page.header("content-encoding") == Some("gzip") {
        assert_eq!(&page.body[..2], &[0x1f, 0x8b], "gzip magic");
        let gz = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        gz.stdin.as_ref().unwrap().write_all(&page.body).unwrap();
        let html = String::from_utf8(gz.wait_with_output().unwrap().stdout).unwrap();
        let names: Vec<&str> = html
            .split(['"', '\''])
            .filter(|p| p.starts_with("assets/"))
            .collect();
        assert!(!names.is_empty(), "the page names its assets: {html}");
        for name in names {
            let r = http(
                &s.addr,
                "GET",
                &format!("/{name}"),
                &[("Accept-Encoding", "gzip")],
                b"",
            );
            assert_eq!(r.status, 200, "{name}");
            assert_eq!(
                r.header("cache-control"),
                Some("public, max-age=31536000, immutable")
            );
            assert_eq!(r.header("content-encoding"), Some("gzip"));
        }
    }
    for bad in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/assets/%2e%2e/index.html",
        "/nope.js",
    ] {
        http(&s.addr, "GET", bad, &[], b"").assert_error(404, "not_found");
    }
}
