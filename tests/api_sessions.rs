//! The REST API of `docs/PROTOCOL.md` on one session, against the real binary: input, resize,
//! stop, delete and output slices, and the event stream announcing a session's life.

mod common;
#[path = "common/server.rs"]
mod server;

use serde_json::{Value, json};
use server::{Client, Events, Server, http};

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
