//! Hostile HTTP against the real binary, at the protocol level: malformed request heads and
//! lying body framing (request smuggling). Each answer is a clear error (the contract's JSON,
//! or a bare 4xx / a close from hyper for a head it cannot parse), and afterwards the server
//! still serves a terminal. (`hostile_json.rs`: bodies; `hostile_urls.rs`: paths and queries.)

mod common;
#[path = "common/server.rs"]
mod server;

use server::{SMALL_LIMITS, Server, assert_refused, assert_serving, head, http, id, raw};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_heads_are_refused() {
    let s = Server::start(SMALL_LIMITS);
    let a = s.addr.as_str();
    let health = b"GET /api/health HTTP/1.1".as_slice();
    // (what, bytes, the status hyper answers)
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage", b"\x01\x02 garbage \xff\r\n\r\n".to_vec(), 400),
        ("HTTP/0.9", b"GET /\r\n\r\n".to_vec(), 400),
        ("no version", b"GET /api/health\r\n\r\n".to_vec(), 400),
        ("HTTP/3.0", head(a, b"GET /api/health HTTP/3.0", &[]), 400),
        ("no colon", head(a, health, &[b"NoColonHere"]), 400),
        ("NUL in a value", head(a, health, &[b"X-A: a\0b"]), 400),
        ("BEL in a value", head(a, health, &[b"X-A: a\x07b"]), 400),
        ("space in a name", head(a, health, &[b"X A: b"]), 400),
        (
            "NUL in the path",
            head(a, b"GET /api/\0 HTTP/1.1", &[]),
            400,
        ),
        (
            "non-UTF-8 path",
            head(a, b"GET /api/\xff\xfe HTTP/1.1", &[]),
            400,
        ),
        ("space in the path", head(a, b"GET /a b HTTP/1.1", &[]), 400),
        (
            "head over --max-head",
            head(
                a,
                health,
                &[format!("X-Big: {}", "y".repeat(10_000)).as_bytes()],
            ),
            431,
        ),
        (
            "over --max-headers",
            head(a, health, &[b"A: 1".as_slice(); 20]),
            431,
        ),
        (
            "line folding",
            head(a, health, &[b"X-A: a", b" folded"]),
            400,
        ),
    ];
    for (what, bytes, status) in cases {
        let r = raw(a, &bytes);
        assert!(r.closed, "{what}: still open");
        let answer = r.answer();
        assert_eq!(answer.status, status, "{what}: {:?}", r.text());
        assert!(
            answer.body.is_empty() || answer.error_code(status) == "bad_request",
            "{what}: {:?}",
            r.text()
        );
    }
    // HTTP/2's preface on this HTTP/1.1-only port: closed, nothing else happens.
    let r = raw(a, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(r.closed);
    assert!(
        r.bytes.is_empty() || r.bytes.starts_with(b"HTTP/1.1 4"),
        "{:?}",
        r.text()
    );
    // An unknown method is an ordinary request to a known path: 405 with the contract's body.
    let r = raw(a, &head(a, b"FROB /api/health HTTP/1.1", &[]));
    r.answer().assert_error(405, "method_not_allowed");
    let r = raw(a, &head(a, b"FROB /api/nothing HTTP/1.1", &[]));
    r.answer().assert_error(404, "not_found");
    // Non-UTF-8 bytes in a header value are legal (obs-text): nothing looks at it here.
    let r = raw(
        a,
        &head(a, b"GET /api/sessions HTTP/1.1", &[b"X-A: a\xff\xfeb"]),
    );
    assert_eq!(r.answer().status, 200, "{:?}", r.text());
    let r = raw(
        a,
        &head(a, b"GET /api/sessions HTTP/1.1", &[b"Content-Type: \xff"]),
    );
    assert_eq!(r.answer().status, 200, "{:?}", r.text());
    assert_serving(&s, 1).await;
}

/// Bytes of a request with this head and body, `Content-Length` and all given by the caller.
fn request(addr: &str, line: &str, lines: &[&str], body: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let mut out = head(addr, line.as_bytes(), &lines);
    out.extend_from_slice(body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_body_framing_is_refused_and_never_smuggles_a_request() {
    let s = Server::start(SMALL_LIMITS);
    let a = s.addr.as_str();
    let sid = s.run("sleep 600");
    let create = "POST /api/sessions HTTP/1.1";
    let json_type = "Content-Type: application/json";

    // A shorter body than declared, then the client stops sending: 400, no session.
    let bytes = request(a, create, &[json_type, "Content-Length: 100"], b"{\"cwd\":");
    let r = server::raw_for(a, &bytes, true, common::TIMEOUT);
    r.answer().assert_error(400, "bad_request");
    // A longer body than declared, on a connection that closes: one answer, the rest ignored.
    let rename = format!("PATCH /api/sessions/{sid} HTTP/1.1");
    let body =
        format!("{{\"name\":\"x\"}}DELETE /api/sessions/{sid} HTTP/1.1\r\nHost: {a}\r\n\r\n");
    let bytes = request(
        a,
        &rename,
        &[json_type, "Content-Length: 12"],
        body.as_bytes(),
    );
    let r = raw(a, &bytes);
    assert_eq!(r.answer().status, 200, "{:?}", r.text());
    // Two lengths that disagree, a length that is no number, too big for 64 bits, negative.
    for lengths in [
        &["Content-Length: 2", "Content-Length: 3"][..],
        &["Content-Length: 2, 3"],
        &["Content-Length: abc"],
        &["Content-Length: -1"],
        &["Content-Length: 18446744073709551616"],
        &["Content-Length: 99999999999999999999999999999"],
        &["Content-Length: 18446744073709551615"],
        &["Content-Length: +2"],
    ] {
        let r = raw(a, &request(a, create, lengths, b"{}"));
        assert!(r.closed, "{lengths:?}");
        let status = r.answer().status;
        assert!((400..=431).contains(&status), "{lengths:?}: {:?}", r.text());
        assert_refused(&r, status);
    }
    // The same length twice is one length.
    let twice = ["Content-Length: 2", "Content-Length: 2", json_type];
    let r = raw(
        a,
        &request(
            a,
            "PATCH /api/sessions/AAAAAAAAAAAAAAAAA HTTP/1.1",
            &twice,
            b"{}",
        ),
    );
    r.answer().assert_error(404, "not_found");
    // Chunked encoding gone wrong: a size that is no hex number, a chunk longer than its
    // size, a size beyond 64 bits, the body ending early; and codings we do not take.
    let chunked = "Transfer-Encoding: chunked";
    for body in [
        &b"zz\r\n{}\r\n0\r\n\r\n"[..],
        b"2\r\n{}xx\r\n0\r\n\r\n",
        b"fffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
        b"10\r\n{}",
    ] {
        let r = server::raw_for(
            a,
            &request(a, create, &[chunked], body),
            true,
            common::TIMEOUT,
        );
        r.answer().assert_error(400, "bad_request");
    }
    for coding in [
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: chunked, gzip",
    ] {
        assert_refused(&raw(a, &request(a, create, &[coding], b"{}")), 400);
    }
    // Transfer-Encoding and Content-Length together: the chunked body counts, the connection
    // closes after the answer, and what follows the chunked body is never a second request.
    let smuggled = format!("0\r\n\r\nDELETE /api/sessions/{sid} HTTP/1.1\r\nHost: {a}\r\n\r\n");
    let line = "POST /api/sessions HTTP/1.1".to_owned();
    let mut bytes = format!(
        "{line}\r\nHost: {a}\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        smuggled.len()
    )
    .into_bytes();
    bytes.extend_from_slice(smuggled.as_bytes());
    let r = raw(a, &bytes);
    assert!(r.closed);
    let answers = r.answers();
    assert_eq!(answers.len(), 1, "{:?}", r.text());
    let made = answers[0].json();
    assert_eq!(
        s.session(&sid)["status"],
        "running",
        "the smuggled DELETE ran"
    );
    s.send(
        "DELETE",
        &format!("/api/sessions/{}", id(&made["session"])),
        None,
    );
    // Bodies over --max-body: told by Content-Length, or found out while reading chunks.
    let big = format!("{{\"name\":\"{}\"}}", "n".repeat(100 * 1024));
    http(
        a,
        "POST",
        "/api/sessions",
        &[("Content-Type", "application/json")],
        big.as_bytes(),
    )
    .assert_error(413, "payload_too_large");
    let mut chunks = Vec::new();
    for piece in big.as_bytes().chunks(1000) {
        chunks.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunks.extend_from_slice(piece);
        chunks.extend_from_slice(b"\r\n");
    }
    chunks.extend_from_slice(b"0\r\n\r\n");
    http(
        a,
        "POST",
        "/api/sessions",
        &[("Transfer-Encoding", "chunked")],
        &chunks,
    )
    .assert_error(413, "payload_too_large");
    // Nothing above created or removed a session.
    let left: Vec<String> = s.get("/api/sessions").json()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(left, [sid.as_str()]);
    assert_serving(&s, 2).await;
}
