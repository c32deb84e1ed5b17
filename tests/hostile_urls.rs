//! Hostile URLs against the real binary: odd query strings, path traversal in every encoding,
//! odd and stale session ids. Each is a `400` or `404` in the contract's shape (never a file
//! outside the embedded UI), and the server still serves a terminal.

mod common;
#[path = "common/server.rs"]
mod server;

use serde_json::json;
use server::{
    Client, SMALL_LIMITS, Server, assert_refused, assert_serving, head, http, raw, upgrade_head,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_query_strings_are_400_or_ignored() {
    let s = Server::start(SMALL_LIMITS);
    let sid = s.run("printf hello; sleep 600");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.read_contains("hello").await;
    for q in [
        "status=%zz",
        "status=%00",
        "status=%",
        "status=%e2%82",
        "status=r%C3%BCnning",
        "status=r\u{fc}nning",
        "status=running&status=bogus",
        "status=running%00",
    ] {
        let r = s.get(&format!("/api/sessions?{q}"));
        assert_eq!(r.error_code(400), "bad_request", "{q}");
    }
    // Unknown, empty, lone and overlong parameters are ignored; the last of a repeat wins.
    let long = "q".repeat(7 * 1024);
    for q in [
        "%",
        "&&&",
        "=",
        "%zz=1",
        "status=bogus&status=running",
        &format!("x={long}"),
    ] {
        let r = s.get(&format!("/api/sessions?{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
    }
    let output = format!("/api/sessions/{sid}/output");
    for q in [
        "from=-1",
        "from=1180591620717411303424",
        "from=1e3",
        "from=0x10",
        "from=%00",
        "from=1%00",
        "from=+1",
        "from=%201",
        "from=%EF%BC%91",
        "to=18446744073709551616",
        "from=3&from=nope",
        "format=text&format=html",
    ] {
        let r = s.get(&format!("{output}?{q}"));
        assert_eq!(r.error_code(400), "bad_request", "{q}");
    }
    let r = s.get(&format!(
        "{output}?from=nope&from=1&to=18446744073709551615"
    ));
    assert_eq!((r.status, r.body.as_slice()), (200, b"ello".as_slice()));
    let attach = |q: &str| {
        let path = format!("/api/sessions/{sid}/attach?{q}");
        server::exchange(&s.addr, &upgrade_head(&s.addr, &path), b"")
    };
    for q in [
        "from=-1",
        "from=1e3",
        "from=1180591620717411303424",
        "mode=rw&mode=rx",
        "mode=%00",
    ] {
        attach(q).assert_error(400, "bad_request");
    }
    // The last mode wins: this client is read-only, so what it types goes nowhere.
    let mut ro = Client::attach(&s.addr, &sid, "mode=rw&mode=ro&from=5").await;
    ro.send_bytes(b"typed-by-ro").await;
    ro.send_json(json!({"type": "bogus"})).await;
    ro.text("error").await; // the reader has handled the frame before it
    s.send(
        "POST",
        &format!("/api/sessions/{sid}/input"),
        Some(json!({"data": "rw"})),
    );
    ro.read_contains("rw").await; // the terminal's echo
    assert!(
        !common::contains(&ro.bytes, "typed-by-ro"),
        "{:?}",
        ro.bytes
    );
    // A query near the head limit, and one over it.
    let near = format!("/api/sessions?x={}", "a".repeat(7 * 1024));
    assert_eq!(s.get(&near).status, 200);
    let over = format!("/api/sessions?x={}", "a".repeat(9 * 1024));
    assert_refused(
        &raw(
            &s.addr,
            &head(&s.addr, format!("GET {over} HTTP/1.1").as_bytes(), &[]),
        ),
        431,
    );
    assert_serving(&s, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_reaches_a_file_outside_the_embedded_ui() {
    let s = Server::start(SMALL_LIMITS);
    let long = format!("/{}", "a".repeat(7 * 1024));
    let paths = [
        "/../../etc/passwd",
        "/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/assets/..%2f..%2fCargo.toml",
        "/assets/../../Cargo.toml",
        "/assets/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/%00",
        "/index.html%00",
        "/index.html%00.js",
        "/%252e%252e/%252e%252e/etc/passwd",
        "/..\\..\\etc\\passwd",
        "/..%5c..%5cetc%5cpasswd",
        "//etc/passwd",
        "///etc/passwd",
        "/./api/sessions",
        "/api/./sessions",
        "/api/sessions/../health",
        "/api/%73essions",
        "/API/sessions",
        "/etc/passwd",
        "/proc/self/environ",
        "/Cargo.toml",
        "/src/main.rs",
        "/web/index.html",
        "/assets/",
        long.as_str(),
    ];
    for path in paths {
        for method in ["GET", "HEAD"] {
            let r = http(&s.addr, method, path, &[], b"");
            assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
            if method == "GET" {
                assert_eq!(r.error_code(404), "not_found", "{path}");
            }
            let text = r.text();
            assert!(
                !text.contains("root:") && !text.contains("[package]"),
                "{path}"
            );
        }
    }
    // `//` and `/` are the page itself (an embedded file); a path over the head limit is 431.
    for page in ["/", "//", "/index.html"] {
        let r = s.get(page);
        assert_eq!(r.status, 200, "{page}");
        assert!(
            r.header("content-type").unwrap().starts_with("text/html"),
            "{page}"
        );
    }
    let over = format!("/{}", "a".repeat(9 * 1024));
    assert_refused(
        &raw(
            &s.addr,
            &head(&s.addr, format!("GET {over} HTTP/1.1").as_bytes(), &[]),
        ),
        431,
    );
    assert_serving(&s, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_session_ids_are_404_on_every_endpoint() {
    let s = Server::start(SMALL_LIMITS);
    let gone = s.run("sleep 600");
    assert_eq!(
        s.send("DELETE", &format!("/api/sessions/{gone}"), None)
            .status,
        204
    );
    let kilo = "A".repeat(1024);
    let ids = [
        "not-an-id!",
        "AAAAAAAA$AAAAAAAA",
        "..",
        "%2e%2e",
        "%00",
        "%C3%A9t%C3%A9%F0%9F%92%A5",
        "\u{e9}t\u{e9}",
        "AAAAAAAAAAAAAAAA%00",
        kilo.as_str(),
        "",
        gone.as_str(),
    ];
    for sid in ids {
        for (method, tail, body) in [
            ("GET", "", None),
            ("DELETE", "", None),
            ("PATCH", "", Some(json!({"name": "x"}))),
            ("POST", "/input", Some(json!({"data": "x"}))),
            ("POST", "/resize", Some(json!({"cols": 80, "rows": 24}))),
            ("POST", "/stop", None),
            ("GET", "/output", None),
        ] {
            let path = format!("/api/sessions/{sid}{tail}");
            if sid.is_empty() && tail.is_empty() {
                continue; // that is the list
            }
            let r = s.send(method, &path, body);
            assert_eq!(r.error_code(404), "not_found", "{method} {path}");
        }
        let path = format!("/api/sessions/{sid}/attach");
        let r = server::exchange(&s.addr, &upgrade_head(&s.addr, &path), b"");
        assert_eq!(r.error_code(404), "not_found", "attach {path}");
    }
    assert_serving(&s, 6).await;
}
