//! Hostile request bodies against the real binary: JSON that is invalid, not UTF-8, deeply
//! nested, near the body limit, of the wrong type for every field, with NUL and `=` where no
//! process may get them; resize values out of range. Each is a `400` in the contract's shape,
//! nothing changes, and the server still serves a terminal.

mod common;
#[path = "common/server.rs"]
mod server;

use serde_json::{Value, json};
use server::{SMALL_LIMITS, Server, assert_serving, http, id};

fn create_raw(s: &Server, body: &[u8]) -> server::Resp {
    http(
        &s.addr,
        "POST",
        "/api/sessions",
        &[("Content-Type", "application/json")],
        body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_of_every_kind_is_400() {
    let s = Server::start(&["--max-body", "256KiB"]);
    let deep_open = "[".repeat(100_000);
    let deep_closed = format!("{{\"x\":{}{}}}", "[".repeat(50_000), "]".repeat(50_000));
    let deep_objects = format!(
        "{{\"x\":{}1{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    let near_limit = format!("{{\"name\":\"{}\"}}", "n".repeat(256 * 1024 - 20));
    let raw_bodies: Vec<&[u8]> = vec![
        b"{\"cwd\": \"/\",",
        b"{'cwd': '/'}",
        b"\xff\xfe{}",
        b"{\"name\": \"\xff\xfe\"}",
        b"{\"name\": \"\\ud800\"}",
        b"{\"cwd\": \"/\"} trailing",
        b"null",
        b"[]",
        b"[\"n\", \"true\", \"/\"]",
        // Every field by position: serde would fill the struct from it.
        b"[\"n\", \"true\", \"/\", null, 80, 24, null]",
        b"\"a string\"",
        b"42",
        deep_open.as_bytes(),
        near_limit.as_bytes(),
    ];
    for body in raw_bodies {
        let r = create_raw(&s, body);
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        assert_eq!(r.error_code(400), "bad_request", "{shown}: {}", r.text());
    }
    // Every field with the wrong type, or a value no process may get.
    let mut cases: Vec<Value> = Vec::new();
    for field in ["name", "command", "cwd", "user", "cols", "rows", "env"] {
        for wrong in [
            json!(1),
            json!(true),
            json!([]),
            json!({}),
            json!(1.5),
            json!("x"),
        ] {
            let fits = match field {
                "cols" | "rows" => wrong.is_i64(),
                "env" => wrong == json!({}),
                _ => wrong.is_string(),
            };
            if !fits {
                cases.push(json!({ "cwd": "/", field: wrong }));
            }
        }
    }
    cases.extend([
        json!({"cwd": "/", "cols": 1e9}),
        json!({"cwd": "/", "cols": -1}),
        json!({"cwd": "/", "rows": 65536}),
        json!({"cwd": "/", "cols": 18446744073709551615u64}),
        json!({"cwd": "/", "env": {"A=B": "x"}}),
        json!({"cwd": "/", "env": {"A\u{0}": "x"}}),
        json!({"cwd": "/", "env": {"": "x"}}),
        json!({"cwd": "/", "env": {"1A": "x"}}),
        json!({"cwd": "/", "env": {"A": "x\u{0}"}}),
        json!({"cwd": "/", "env": {"A": null}}),
        json!({"cwd": "/", "env": {"A": 1}}),
        json!({"cwd": "/", "command": "echo\u{0}x"}),
        json!({"cwd": "/\u{0}"}),
        json!({"cwd": "/tmp\u{0}/x"}),
        json!({"cwd": "/", "user": "ro\u{0}ot"}),
        json!({"cwd": "/", "user": ""}),
        json!({"cwd": "/", "user": "x".repeat(10_000)}),
        json!({"cwd": "/", "name": "a\u{0}b"}),
        json!({"cwd": "/", "name": "a\u{1b}[2Jb"}),
        json!({"cwd": "/", "command": "x".repeat(17 * 1024)}),
        json!({"cwd": "x".repeat(30_000)}),
    ]);
    for body in cases {
        let r = s.send("POST", "/api/sessions", Some(body.clone()));
        let shown: String = body.to_string().chars().take(80).collect();
        assert_eq!(r.error_code(400), "bad_request", "{shown}: {}", r.text());
    }
    assert_eq!(s.get("/api/sessions").json()["sessions"], json!([]));
    // Deep nesting in a field nobody reads is valid JSON, skipped without recursion.
    for deep in [deep_closed, deep_objects] {
        let r = create_raw(&s, deep.as_bytes());
        assert_eq!(r.status, 201, "{}", r.text());
        s.send(
            "DELETE",
            &format!("/api/sessions/{}", id(&r.json()["session"])),
            None,
        );
    }
    // null is "not given": the defaults.
    let nulls = json!({"name": null, "command": null, "cwd": null, "user": null,
                       "cols": null, "rows": null, "env": null});
    let made = s.create(nulls);
    assert_eq!(
        (made["cols"].clone(), made["rows"].clone()),
        (json!(80), json!(24))
    );
    s.send("DELETE", &format!("/api/sessions/{}", id(&made)), None);
    // The other JSON endpoints.
    let sid = s.run("sleep 600");
    let path = format!("/api/sessions/{sid}");
    for (method, tail, body) in [
        ("PATCH", "", json!({"name": 1})),
        ("PATCH", "", json!({"name": null})),
        ("PATCH", "", json!(["x"])),
        ("PATCH", "", json!({"name": "a\u{7f}"})),
        ("POST", "/input", json!({"data": 1})),
        ("POST", "/input", json!({"data": null})),
        ("POST", "/input", json!(["x"])),
        ("POST", "/stop", json!({"signal": 9})),
        ("POST", "/stop", json!({"signal": "9"})),
        ("POST", "/stop", json!({"signal": "KILL\u{0}"})),
        ("POST", "/stop", json!({"signal": ["KILL"]})),
    ] {
        let r = s.send(method, &format!("{path}{tail}"), Some(body.clone()));
        assert_eq!(r.error_code(400), "bad_request", "{method} {tail} {body}");
    }
    let session = s.session(&sid);
    assert_eq!(session["status"], "running");
    assert_eq!(session["name"], "sleep");
    assert_serving(&s, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_resize_values_over_rest_are_400_and_change_nothing() {
    let s = Server::start(SMALL_LIMITS);
    let sid = s.run("sleep 600");
    let path = format!("/api/sessions/{sid}/resize");
    for bad in [
        json!({"cols": 0, "rows": 24}),
        json!({"cols": 1001, "rows": 24}),
        json!({"cols": -1, "rows": 24}),
        json!({"cols": 1e9, "rows": 24}),
        json!({"cols": 65536, "rows": 24}),
        json!({"cols": 4294967376u64, "rows": 24}),
        json!({"cols": 18446744073709551615u64, "rows": 24}),
        json!({"cols": "80", "rows": 24}),
        json!({"cols": 80.5, "rows": 24}),
        json!({"cols": 80.0, "rows": 24}),
        json!({"cols": null, "rows": 24}),
        json!({"cols": null, "rows": null}),
        json!({"cols": [80], "rows": 24}),
        json!({"cols": 80}),
        json!({"rows": 24}),
        json!({}),
        json!(null),
        json!([80, 24]),
        json!("80x24"),
    ] {
        let r = s.send("POST", &path, Some(bad.clone()));
        assert_eq!(r.error_code(400), "bad_request", "{bad}");
    }
    let r = http(&s.addr, "POST", &path, &[], b"cols=80&rows=24");
    assert_eq!(r.error_code(400), "bad_request");
    let session = s.session(&sid);
    assert_eq!(
        (session["cols"].clone(), session["rows"].clone()),
        (json!(80), json!(24))
    );
    assert_serving(&s, 7).await;
}
