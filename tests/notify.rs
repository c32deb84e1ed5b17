//! systemd's notify protocol against the real binary: a test plays systemd with a datagram
//! socket in `NOTIFY_SOCKET` and reads `READY=1`, `STATUS=` updates, `WATCHDOG=1` pings and
//! `STOPPING=1`, on a socket path and on an abstract socket.

mod common;
#[path = "common/server.rs"]
mod server;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Instant;

use common::spawn::{Running, Spawn};
use common::{TIMEOUT, TempDir};
use nix::sys::signal::Signal;
use serde_json::json;
use server::{BIN, http};

/// The socket systemd would listen on, and every datagram it received.
struct Systemd {
    socket: UnixDatagram,
    got: Vec<String>,
}

impl Systemd {
    fn new(socket: UnixDatagram) -> Systemd {
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        Systemd {
            socket,
            got: Vec::new(),
        }
    }

    /// Waits for the next datagram for which `f` holds (failing after [`TIMEOUT`]).
    fn next_where(&mut self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        let mut buf = vec![0u8; 4096];
        loop {
            assert!(Instant::now() < deadline, "no {what}; got {:?}", self.got);
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) => panic!("no {what} ({e}); got {:?}", self.got),
            };
            let text = String::from_utf8(buf[..n].to_vec()).expect("UTF-8 notification");
            self.got.push(text.clone());
            if f(&text) {
                return text;
            }
        }
    }
}

/// `lanterm serve` under "systemd": `NOTIFY_SOCKET` and `WATCHDOG_USEC` set.
fn serve(dir: &TempDir, notify_socket: &str, watchdog_usec: &str) -> Running {
    Spawn::serve(BIN)
        .args(["--no-auth", "--allow-root"])
        .db(&dir.db())
        .env("NOTIFY_SOCKET", notify_socket)
        .env("WATCHDOG_USEC", watchdog_usec)
        .spawn()
}

/// The `127.0.0.1:PORT` of a `STATUS=serving on http://127.0.0.1:PORT: ...` line.
fn address(status: &str) -> String {
    let rest = &status[status.find("http://").expect("an address") + "http://".len()..];
    rest[..rest.find(": ").expect("': ' after the address")].to_owned()
}

fn status_of(datagram: &str) -> Option<&str> {
    datagram.lines().find_map(|l| l.strip_prefix("STATUS="))
}

#[test]
fn ready_status_watchdog_and_stopping_reach_the_notify_socket() {
    let dir = TempDir::new("notify");
    let path = dir.path().join("notify.sock");
    let mut systemd = Systemd::new(UnixDatagram::bind(&path).unwrap());
    // 200 ms: a ping every 100 ms.
    let mut child = serve(&dir, path.to_str().unwrap(), "200000");

    let ready = systemd.next_where("READY=1", |d| d.lines().any(|l| l == "READY=1"));
    let status = status_of(&ready).expect("READY=1 comes with a status");
    assert!(
        status.starts_with("serving on http://127.0.0.1:"),
        "{status}"
    );
    assert!(status.ends_with(": 0 sessions running"), "{status}");
    let addr = address(status);
    assert_eq!(http(&addr, "GET", "/api/health", &[], b"").status, 200);

    systemd.next_where("WATCHDOG=1", |d| d == "WATCHDOG=1");
    systemd.next_where("a second WATCHDOG=1", |d| d == "WATCHDOG=1");

    let body = json!({ "command": "sleep 60", "cwd": "/" }).to_string();
    let headers = [("Content-Type", "application/json")];
    let r = http(&addr, "POST", "/api/sessions", &headers, body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["session"]["id"].as_str().unwrap().to_owned();
    systemd.next_where("STATUS= with 1 session", |d| {
        status_of(d).is_some_and(|s| s.ends_with(": 1 session running"))
    });
    let r = http(&addr, "POST", &format!("/api/sessions/{id}/stop"), &[], b"");
    assert_eq!(r.status, 202, "{}", r.text());
    systemd.next_where("STATUS= with 0 sessions", |d| {
        status_of(d).is_some_and(|s| s.ends_with(": 0 sessions running"))
    });

    child.signal(Signal::SIGTERM);
    let stopping = systemd.next_where("STOPPING=1", |d| d.lines().any(|l| l == "STOPPING=1"));
    assert!(status_of(&stopping).is_some_and(|s| s.starts_with("stopping")));
    assert!(child.wait_exit().success());
    // The pings went to the same socket the whole time; nothing else arrived unasked.
    for d in &systemd.got {
        let first = d.lines().next().unwrap_or_default();
        assert!(
            ["READY=1", "WATCHDOG=1", "STOPPING=1"].contains(&first)
                || first.starts_with("STATUS="),
            "unexpected notification {d:?}"
        );
    }
}

#[test]
fn an_abstract_notify_socket_works_and_no_watchdog_means_no_pings() {
    let dir = TempDir::new("notify-abstract");
    let name = format!("lanterm-test-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let mut systemd = Systemd::new(UnixDatagram::bind_addr(&addr).unwrap());
    let mut child = serve(&dir, &format!("@{name}"), "0");

    let ready = systemd.next_where("READY=1", |d| d.lines().any(|l| l == "READY=1"));
    let addr = address(status_of(&ready).unwrap());
    assert_eq!(http(&addr, "GET", "/api/health", &[], b"").status, 200);
    child.signal(Signal::SIGTERM);
    systemd.next_where("STOPPING=1", |d| d.lines().any(|l| l == "STOPPING=1"));
    assert!(child.wait_exit().success());
    assert!(
        !systemd.got.iter().any(|d| d.contains("WATCHDOG=1")),
        "WATCHDOG_USEC=0 means no watchdog: {:?}",
        systemd.got
    );
}
