//! The REST API and the event stream of `docs/PROTOCOL.md`, against the real binary: every
//! endpoint, its answers and its errors in the contract's JSON shape.

mod common;
#[path = "common/server.rs"]
mod server;

use serde_json::{Value, json};
use server::{Client, Events, Server, http, id};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_takes_raw_bytes_and_json_then_409_once_ended() {
    let s = Server::start(&[]);
    let sid = s.run("cat");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    let path = format!("/api/sessions/{sid}/input");
    let octets = [("Content-Type", "application/octet-stream")];
    let r = http(&s.addr, "POST", &path, &octets, b"raw-in\n");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    c.read_contains("raw-in").await;
    let r = s.send("POST", &path, Some(json!({"data": "json-in\n"})));
    assert_eq!(r.status, 204, "{}", r.text());
    c.read_contains("json-in").await;
    // Without the JSON content type, a JSON-looking body is just bytes.
    let r = http(&s.addr, "POST", &path, &octets, b"{\"data\":\"lit\"}\n");
    assert_eq!(r.status, 204);
    c.read_contains("{\"data\":\"lit\"}").await;
    s.send("POST", &path, Some(json!({"text": "x"})))
        .assert_error(400, "bad_request");

    s.send("POST", &format!("/api/sessions/{sid}/stop"), None);
    assert_ne!(s.wait_exit(&sid)["status"], "running");
    http(&s.addr, "POST", &path, &octets, b"late\n").assert_error(409, "conflict");
    s.send("POST", &path, Some(json!({"data": "late\n"})))
        .assert_error(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_changes_the_terminal_size() {
    let s = Server::start(&[]);
    let sid = s.run("read x; stty size; sleep 600");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    let path = format!("/api/sessions/{sid}/resize");
    let r = s.send("POST", &path, Some(json!({"cols": 100, "rows": 30})));
    assert_eq!(r.status, 204, "{}", r.text());
    let session = s.session(&sid);
    assert_eq!(
        (session["cols"].clone(), session["rows"].clone()),
        (json!(100), json!(30))
    );
    s.send(
        "POST",
        &format!("/api/sessions/{sid}/input"),
        Some(json!({"data": "\n"})),
    );
    c.read_contains("30 100").await;
    for bad in [
        json!({"cols": 0, "rows": 30}),
        json!({"cols": 1001, "rows": 30}),
        json!({"cols": 100, "rows": 0}),
        json!({"cols": 100, "rows": 1001}),
        json!({"cols": 100}),
    ] {
        s.send("POST", &path, Some(bad))
            .assert_error(400, "bad_request");
    }
    assert_eq!(s.session(&sid)["cols"], 100);
}

#[test]
fn stop_answers_202_and_ends_the_session_with_the_signal() {
    let s = Server::start(&[]);
    let sid = s.run("sleep 600");
    let path = format!("/api/sessions/{sid}/stop");
    s.send("POST", &path, Some(json!({"signal": "USR1"})))
        .assert_error(400, "bad_request");
    assert_eq!(s.session(&sid)["status"], "running");
    let r = s.send("POST", &path, Some(json!({"signal": "KILL"})));
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["session"]["id"], sid.as_str());
    let ended = s.wait_exit(&sid);
    assert_eq!(ended["status"], "stopped", "{ended}");
    assert_eq!(ended["exit_signal"], "KILL", "{ended}");
    assert!(ended["ended_at"].is_string(), "{ended}");
    assert!(ended["pid"].is_i64() || ended["pid"].is_null());

    // The default (HUP, then TERM) ends a plain command too.
    let sid = s.run("sleep 600");
    let r = s.send("POST", &format!("/api/sessions/{sid}/stop"), None);
    assert_eq!(r.status, 202);
    assert_eq!(s.wait_exit(&sid)["status"], "stopped");
}

#[test]
fn delete_stops_and_removes_the_session() {
    let s = Server::start(&[]);
    let sid = s.run("sleep 600");
    let path = format!("/api/sessions/{sid}");
    let r = s.send("DELETE", &path, None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    s.get(&path).assert_error(404, "not_found");
    s.get(&format!("{path}/output"))
        .assert_error(404, "not_found");
    s.send("DELETE", &path, None).assert_error(404, "not_found");
    assert_eq!(s.get("/api/sessions").json()["sessions"], json!([]));
}

#[test]
fn output_slices_by_offset_and_strips_escapes_as_text() {
    let s = Server::start(&[]);
    let sid = s.run("printf 'head\\033[31mred\\033[0mtail'");
    s.wait_exit(&sid);
    let whole: &[u8] = b"head\x1b[31mred\x1b[0mtail";
    let get = |query: &str| s.get(&format!("/api/sessions/{sid}/output{query}"));
    let r = get("");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, whole);
    assert_eq!(r.header("x-output-start"), Some("0"));
    assert_eq!(
        r.header("x-output-end"),
        Some(whole.len().to_string().as_str())
    );
    let r = get("?from=4&to=9");
    assert_eq!(r.body, &whole[4..9]);
    assert_eq!(
        (r.header("x-output-start"), r.header("x-output-end")),
        (Some("4"), Some("9"))
    );
    let r = get("?from=9");
    assert_eq!(r.body, &whole[9..]);
    assert_eq!(r.header("x-output-start"), Some("9"));
    // Beyond the end: what exists, and the headers say so.
    let r = get("?from=2&to=100000");
    assert_eq!(r.body, &whole[2..]);
    assert_eq!(
        r.header("x-output-end"),
        Some(whole.len().to_string().as_str())
    );
    let r = get("?format=text");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "headredtail");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let r = get("?format=raw&from=0&to=4");
    assert_eq!(r.body, b"head");
    get("?from=9&to=4").assert_error(400, "bad_request");
    get("?from=-1").assert_error(400, "bad_request");
    get("?format=html").assert_error(400, "bad_request");
}

#[test]
fn events_announce_created_exited_and_deleted() {
    let s = Server::start(&[]);
    let mut events = Events::open(&s.addr);
    assert_eq!(events.status, 200);
    let ct = events.headers.iter().find(|(k, _)| k == "content-type");
    assert!(
        ct.is_some_and(|(_, v)| v.starts_with("text/event-stream")),
        "{ct:?}"
    );

    let sid = s.run("read x; exit 3");
    let is = |want: &'static str, sid: String| {
        move |name: &str, data: &Value| name == want && data["id"] == sid.as_str()
    };
    let (_, created) = events.next_where(is("session.created", sid.clone()));
    assert_eq!(created["status"], "running", "{created}");
    assert_eq!(created["command"], "read x; exit 3");
    s.send(
        "PATCH",
        &format!("/api/sessions/{sid}"),
        Some(json!({"name": "seen"})),
    );
    let (_, updated) = events.next_where(is("session.updated", sid.clone()));
    assert_eq!(updated["name"], "seen", "{updated}");
    s.send(
        "POST",
        &format!("/api/sessions/{sid}/input"),
        Some(json!({"data": "\n"})),
    );
    let (_, exited) = events.next_where(is("session.exited", sid.clone()));
    assert_eq!(exited["status"], "failed", "{exited}");
    assert_eq!(exited["exit_code"], 3, "{exited}");
    assert_eq!(
        s.send("DELETE", &format!("/api/sessions/{sid}"), None)
            .status,
        204
    );
    let (_, deleted) = events.next_where(|name, _| name == "session.deleted");
    assert_eq!(deleted, json!({ "id": sid }));
}
