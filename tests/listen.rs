//! Where the service listens (IPv4, IPv6 and unix sockets with their mode and owner) and the
//! limits not covered elsewhere: event streams, header count and head size.

mod common;
#[path = "common/server.rs"]
mod server;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;

use common::TempDir;
use common::spawn::Spawn;
use server::{BIN, Server, exchange, http};

/// One `GET path` over a unix socket; the status line.
fn unix_get(socket: &std::path::Path, path: &str) -> String {
    let mut s = UnixStream::connect(socket).expect("connect to the unix socket");
    s.set_read_timeout(Some(common::TIMEOUT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn serves_ipv4_ipv6_and_a_unix_socket_with_its_mode_and_owner() {
    let dir = TempDir::new("listen");
    let socket = dir.path().join("lanterm.sock");
    // A socket left over from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let unix = format!("unix:{}", socket.display());
    let s = Server::start(&[
        "--listen",
        "[::1]:0",
        "--listen",
        &unix,
        "--socket-mode",
        "600",
    ]);
    let log = s.log();
    let v6 = log
        .split("http://[::1]:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or_else(|| panic!("no IPv6 address in the log: {log}"));
    assert_eq!(http(&s.addr, "GET", "/api/health", &[], b"").status, 200);
    assert_eq!(
        http(&format!("[::1]:{v6}"), "GET", "/api/health", &[], b"").status,
        200
    );
    assert_eq!(unix_get(&socket, "/api/sessions"), "HTTP/1.1 200 OK");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    if let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody")
        && nix::unistd::geteuid().is_root()
    {
        let other = dir.path().join("owned.sock");
        let unix = format!("unix:{}", other.display());
        let _s = Server::start(&["--listen", &unix, "--socket-owner", "nobody"]);
        assert_eq!(
            std::fs::metadata(&other).unwrap().uid(),
            nobody.uid.as_raw()
        );
    }
}

#[test]
fn a_file_that_is_not_a_socket_is_never_replaced() {
    let dir = TempDir::new("listen-file");
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, "keep me").unwrap();
    let out = Spawn::new(BIN)
        .args(["serve", "--no-auth", "--listen"])
        .arg(format!("unix:{}", path.display()))
        .db(&dir.db())
        .output();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[test]
fn event_streams_are_limited() {
    let s = Server::start(&["--max-streams", "1"]);
    let first = server::Events::open(&s.addr);
    assert_eq!(first.status, 200);
    let second = http(&s.addr, "GET", "/api/events", &[], b"");
    second.assert_error(429, "limit_reached");
    drop(first);
    // The stream's permit comes back once the server notices the client went away.
    let again = || server::Events::open(&s.addr).status;
    common::poll_eq(common::TIMEOUT, "the stream slot back", again, 200);
}

#[test]
fn too_many_headers_or_too_big_a_head_is_refused_and_the_server_goes_on() {
    let s = Server::start(&["--max-headers", "8", "--max-head", "8KiB"]);
    let many: String = (0..20).map(|i| format!("X-Filler-{i}: {i}\r\n")).collect();
    let head = format!("GET /api/health HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
    assert_eq!(exchange(&s.addr, head.as_bytes(), b"").status, 431);
    let big = "y".repeat(10 * 1024);
    let head =
        format!("GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
    assert_eq!(exchange(&s.addr, head.as_bytes(), b"").status, 431);
    assert_eq!(http(&s.addr, "GET", "/api/health", &[], b"").status, 200);
}
