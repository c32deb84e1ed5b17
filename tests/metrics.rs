//! `GET /metrics` against the real binary: behind the login like the API, in the Prometheus
//! text format, with numbers that follow what happens (sessions by status, clients, output).

mod common;
#[path = "common/server.rs"]
mod server;

use std::collections::HashMap;

use server::{Client, Server};

/// The samples of a Prometheus text exposition, checked for its shape on the way: every
/// sample's family has `# HELP` and `# TYPE` lines before it, and every value is a number.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut typed = Vec::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["gauge", "counter"].contains(&kind), "{line}");
            typed.push(name.to_owned());
        } else if line.starts_with("# HELP ") {
        } else {
            let (key, value) = line.rsplit_once(' ').expect("name value");
            let family = key.split('{').next().unwrap();
            assert!(
                typed.iter().any(|t| t == family),
                "{family} has no # TYPE before it"
            );
            samples.insert(key.to_owned(), value.parse::<f64>().expect("a number"));
        }
    }
    samples
}

#[test]
fn metrics_need_credentials() {
    let s = Server::start_with_auth(&[]);
    let r = s.get("/metrics");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sessions_clients_and_output() {
    let s = Server::start_logged_in(&[]);
    let done = s.run("printf 'metrics-%s\\n' 1 2 3");
    s.wait_exit(&done);
    let running = s.run("cat");
    let token = s.token.clone().unwrap();
    let bearer = format!("Bearer {token}");
    let mut client =
        Client::attach_with(&s.addr, &running, "", &[("Authorization", bearer.as_str())]).await;

    let r = s.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let m = parse(&r.text());
    assert_eq!(m["lanterm_sessions{status=\"running\"}"], 1.0);
    assert_eq!(m["lanterm_sessions{status=\"completed\"}"], 1.0);
    assert_eq!(m["lanterm_sessions{status=\"failed\"}"], 0.0);
    assert_eq!(m["lanterm_clients"], 1.0);
    let produced = s.session(&done)["output_bytes"].as_f64().unwrap();
    assert!(m["lanterm_output_bytes_total"] >= produced);
    assert_eq!(m["lanterm_store_ok"], 1.0);
    assert_eq!(m["lanterm_store_errors_total"], 0.0);
    assert!(m["lanterm_store_file_bytes"] > 0.0);
    assert!(m["lanterm_resident_memory_bytes"] > 1e6);
    assert_eq!(m["lanterm_build_info{version=\"0.1.0\"}"], 1.0);

    // Typing into the running session: its echo counts as output.
    client.send_bytes(b"typed-for-metrics\r").await;
    client.read_contains("typed-for-metrics").await;
    drop(client);
    let after = parse(&s.get("/metrics").text());
    assert!(after["lanterm_output_bytes_total"] >= m["lanterm_output_bytes_total"] + 17.0);

    let wrong = s.send("POST", "/metrics", None);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET"));
}
