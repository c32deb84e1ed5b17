//! The REST API and the event stream of `docs/PROTOCOL.md`, against the real binary: every
//! endpoint, its answers and its errors in the contract's JSON shape. (The endpoints on one
//! session and the event stream: `tests/api_sessions.rs`.)

mod common;
#[path = "common/server.rs"]
mod server;

use serde_json::json;
use server::{Server, http, id};

#[test]
fn health_is_public_and_ok() {
    let s = Server::start(&[]);
    let r = s.get("/api/health");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    // --no-auth counts as credentials: the details come too.
    assert!(v["version"].is_string(), "{v}");
    assert!(v["uptime_seconds"].is_u64(), "{v}");
    assert_eq!(v["sessions"]["running"], 0, "{v}");
    assert_eq!(v["clients"], 0, "{v}");
    assert!(v["memory"]["rss_bytes"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["database"]["ok"], true, "{v}");
    assert!(
        v["database"]["path"]
            .as_str()
            .unwrap()
            .ends_with("lanterm.db"),
        "{v}"
    );
    assert!(v["database"]["size_bytes"].is_u64(), "{v}");
    assert!(v["database"]["pending_bytes"].is_u64(), "{v}");
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
}

#[test]
fn create_answers_201_with_the_whole_session_object() {
    let s = Server::start(&[]);
    let r = s.send(
        "POST",
        "/api/sessions",
        Some(json!({"name": "build", "command": "sleep 600", "cwd": "/", "cols": 120, "rows": 40})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    let session = &v["session"];
    let mut keys: Vec<&str> = session
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = vec![
        "id",
        "name",
        "status",
        "command",
        "cwd",
        "user",
        "pid",
        "cols",
        "rows",
        "created_at",
        "ended_at",
        "exit_code",
        "exit_signal",
        "output_bytes",
        "history_start",
        "clients",
        // (addition, documented in docs/PROTOCOL.md) the time of the last output
        "last_output_at",
        // (addition) who asked for the session: how they logged in, and from where
        "created_by",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected, "{session}");
    let sid = id(session);
    assert!(sid.len() >= 16, "96 bits of randomness: {sid}");
    assert!(
        sid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe: {sid}"
    );
    assert_eq!(session["name"], "build");
    assert_eq!(session["status"], "running");
    assert_eq!(session["last_output_at"], json!(null), "no output yet");
    assert_eq!(session["command"], "sleep 600");
    assert_eq!(session["cwd"], "/");
    assert_eq!(session["user"], "root");
    assert!(session["pid"].as_i64().unwrap() > 1);
    assert_eq!(
        (session["cols"].clone(), session["rows"].clone()),
        (json!(120), json!(40))
    );
    let created = session["created_at"].as_str().unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && &created[10..11] == "T",
        "RFC 3339 UTC: {created}"
    );
    for null in ["ended_at", "exit_code", "exit_signal"] {
        assert!(session[null].is_null(), "{null}: {session}");
    }
    assert!(session["output_bytes"].is_u64());
    assert_eq!(session["history_start"], 0);
    assert_eq!(session["clients"], 0);
    assert_eq!(s.session(&sid)["id"], sid.as_str());

    // Defaults: 80x24, and a command's environment from the request.
    let d = s.create(json!({"command": "echo \"v=$FOO\"", "cwd": "/", "env": {"FOO": "bar"}}));
    assert_eq!(
        (d["cols"].clone(), d["rows"].clone()),
        (json!(80), json!(24))
    );
    s.wait_exit(&id(&d));
    let out = s.get(&format!("/api/sessions/{}/output", id(&d)));
    assert!(out.text().contains("v=bar"), "{:?}", out.text());
}

#[test]
fn create_refuses_bad_fields_with_400() {
    let s = Server::start(&[]);
    let long = "n".repeat(129);
    let cases = [
        json!({"cwd": "/no/such/directory"}),
        json!({"cwd": "relative/dir"}),
        json!({"cwd": "/", "cols": 0}),
        json!({"cwd": "/", "cols": 1001}),
        json!({"cwd": "/", "rows": 0}),
        json!({"cwd": "/", "rows": 1001}),
        json!({"cwd": "/", "name": long}),
        json!({"cwd": "/", "user": "no_such_user_lanterm"}),
        json!({"cwd": "/", "command": "   "}),
        json!({"cwd": "/", "cols": "wide"}),
    ];
    for body in cases {
        let r = s.send("POST", "/api/sessions", Some(body.clone()));
        r.assert_error(400, "bad_request");
    }
    let r = http(
        &s.addr,
        "POST",
        "/api/sessions",
        &[("Content-Type", "application/json")],
        b"{\"cwd\": \"/\",",
    );
    r.assert_error(400, "bad_request");
    // None of them left a session behind; the limits themselves are allowed.
    assert_eq!(s.get("/api/sessions").json()["sessions"], json!([]));
    let ok = s.create(
        json!({"command": "true", "cwd": "/", "cols": 1000, "rows": 1, "name": "n".repeat(128)}),
    );
    assert_eq!(ok["cols"], 1000);
}

#[test]
fn the_session_limit_answers_429_until_a_session_ends() {
    let s = Server::start(&["--max-sessions", "1"]);
    let first = s.run("sleep 600");
    let r = s.send(
        "POST",
        "/api/sessions",
        Some(json!({"command": "true", "cwd": "/"})),
    );
    r.assert_error(429, "limit_reached");
    let r = s.send("POST", &format!("/api/sessions/{first}/stop"), None);
    assert_eq!(r.status, 202);
    s.wait_exit(&first);
    // The slot is given back just after the session shows as ended.
    let create = || {
        s.send(
            "POST",
            "/api/sessions",
            Some(json!({"command": "true", "cwd": "/"})),
        )
    };
    common::poll_until(common::TIMEOUT, "a slot free again", create, |r| {
        r.status == 201
    });
}

#[test]
fn list_is_newest_first_and_filters_by_status() {
    let s = Server::start(&[]);
    let done = s.run("true");
    s.wait_exit(&done);
    let a = s.run("sleep 600");
    let b = s.run("sleep 600");
    let ids = |r: server::Resp| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        v["sessions"].as_array().unwrap().iter().map(id).collect()
    };
    assert_eq!(ids(s.get("/api/sessions")), [b.as_str(), &a, &done]);
    assert_eq!(ids(s.get("/api/sessions?status=running")), [b.as_str(), &a]);
    assert_eq!(
        ids(s.get("/api/sessions?status=completed")),
        [done.as_str()]
    );
    assert!(ids(s.get("/api/sessions?status=lost")).is_empty());
    s.get("/api/sessions?status=sleeping")
        .assert_error(400, "bad_request");
}

#[test]
fn unknown_and_malformed_ids_are_404() {
    let s = Server::start(&[]);
    for sid in ["AAAAAAAAAAAAAAAAA", "not-an-id!", "x", "%2e%2e", "a.b"] {
        for (method, path) in [
            ("GET", format!("/api/sessions/{sid}")),
            ("DELETE", format!("/api/sessions/{sid}")),
            ("GET", format!("/api/sessions/{sid}/output")),
            ("POST", format!("/api/sessions/{sid}/stop")),
            ("POST", format!("/api/sessions/{sid}/input")),
        ] {
            s.send(method, &path, None).assert_error(404, "not_found");
        }
        s.send(
            "PATCH",
            &format!("/api/sessions/{sid}"),
            Some(json!({"name": "x"})),
        )
        .assert_error(404, "not_found");
    }
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let s = Server::start(&[]);
    for path in [
        "/api/nothing",
        "/api/sessions/a/b/c",
        "/api",
        "/api/sessions/x/exec",
    ] {
        s.get(path).assert_error(404, "not_found");
    }
    let sid = s.run("sleep 600");
    for (method, path) in [
        ("PUT", "/api/sessions".to_owned()),
        ("DELETE", "/api/health".to_owned()),
        ("POST", "/api/events".to_owned()),
        ("POST", format!("/api/sessions/{sid}")),
        ("GET", format!("/api/sessions/{sid}/input")),
        ("DELETE", format!("/api/sessions/{sid}/stop")),
        ("POST", format!("/api/sessions/{sid}/output")),
    ] {
        let code = s.send(method, &path, None).error_code(405);
        assert!(!code.is_empty(), "{method} {path}");
    }
}

#[test]
fn rename_changes_the_name() {
    let s = Server::start(&[]);
    let sid = s.run("sleep 600");
    let path = format!("/api/sessions/{sid}");
    let r = s.send("PATCH", &path, Some(json!({"name": "renamed"})));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["session"]["name"], "renamed");
    assert_eq!(r.json()["session"]["id"], sid.as_str());
    assert_eq!(s.session(&sid)["name"], "renamed");
    let long = "n".repeat(129);
    s.send("PATCH", &path, Some(json!({"name": long})))
        .assert_error(400, "bad_request");
    s.send("PATCH", &path, Some(json!({})))
        .assert_error(400, "bad_request");
    assert_eq!(s.session(&sid)["name"], "renamed");
}
