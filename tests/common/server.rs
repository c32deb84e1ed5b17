//! A real `lanterm serve` for black-box tests (started by `spawn.rs`, the one way to start the
//! binary), and the clients that talk to it: (in `http.rs`) a tiny HTTP/1.1 client over
//! `std::net::TcpStream`, a server-sent events reader, (in `ws.rs`) a WebSocket client that
//! files what it receives, and (in `probe.rs`) raw probes for hostile input. Every wait has a
//! deadline ([`TIMEOUT`]); nothing sleeps blindly.
#![allow(dead_code)]

use std::io::Read;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::common::spawn::{Running, Spawn};
use crate::common::{TIMEOUT, TempDir};

#[path = "events.rs"]
mod events;
#[path = "http.rs"]
mod http;
#[path = "probe.rs"]
mod probe;
#[path = "rawws.rs"]
pub mod rawws;
#[path = "ws.rs"]
mod ws;
#[allow(unused_imports)]
pub use events::Events;
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use probe::*;
#[allow(unused_imports)]
pub use ws::{Client, WsStream, ws_connect, ws_connect_with, ws_over};

pub const BIN: &str = env!("CARGO_BIN_EXE_lanterm");

/// The binary [`Server`] runs: `LANTERM_TEST_BIN` when set (e.g. `target/release/lanterm`,
/// to measure what ships), else the one cargo built for the tests.
pub fn server_bin() -> String {
    std::env::var("LANTERM_TEST_BIN").unwrap_or_else(|_| BIN.to_owned())
}

/// `lanterm serve` on 127.0.0.1 with a database of its own; SIGTERMed when dropped.
pub struct Server {
    proc: Running,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub dir: TempDir,
    /// A login token that [`Server::get`] and [`Server::send`] send as a bearer token.
    pub token: Option<String>,
}

impl Server {
    /// With `--no-auth` and the given extra flags (`--tls-cert` and `--tls-key` for HTTPS: then
    /// `addr` is the HTTPS port and the plain-HTTP helpers below do not apply).
    pub fn start(extra: &[&str]) -> Server {
        Server::spawn(true, extra)
    }

    /// Without `--no-auth`: everything but health needs credentials.
    pub fn start_with_auth(extra: &[&str]) -> Server {
        Server::spawn(false, extra)
    }

    /// With logins, a password set with `lanterm passwd` before the start, and a token from
    /// `POST /api/login` in [`Server::token`].
    pub fn start_logged_in(extra: &[&str]) -> Server {
        let dir = TempDir::new("api");
        set_password(&dir.db(), PASSWORD);
        let mut s = Server::spawn_in(dir, false, extra);
        s.token = Some(s.login(PASSWORD));
        s
    }

    /// Logs in with `password` (asserting 200) and returns the token.
    pub fn login(&self, password: &str) -> String {
        let body = json!({ "password": password }).to_string();
        let headers = [("Content-Type", "application/json")];
        let r = http(&self.addr, "POST", "/api/login", &headers, body.as_bytes());
        assert_eq!(r.status, 200, "login: {}", r.text());
        r.json()["token"].as_str().expect("a token").to_owned()
    }

    /// With `--no-auth`, on the database of an earlier server (its directory, see
    /// [`Server::into_dir`]).
    pub fn start_in(dir: TempDir, extra: &[&str]) -> Server {
        Server::spawn_in(dir, true, extra)
    }

    /// Stops the server (SIGTERM, unless it was killed already) and hands over its directory,
    /// database and all, to start another one on it.
    pub fn into_dir(mut self) -> TempDir {
        if self.proc.exited().is_none() {
            self.terminate();
        }
        std::mem::replace(&mut self.dir, TempDir(std::path::PathBuf::new()))
    }

    /// A crash: SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    fn spawn(no_auth: bool, extra: &[&str]) -> Server {
        Server::spawn_in(TempDir::new("api"), no_auth, extra)
    }

    /// With `--no-auth`, running the binary at `bin` (a copy of [`BIN`], say) instead of [`BIN`].
    pub fn start_binary(bin: &std::path::Path, extra: &[&str]) -> Server {
        Server::spawn_bin(bin, TempDir::new("api"), true, extra)
    }

    fn spawn_in(dir: TempDir, no_auth: bool, extra: &[&str]) -> Server {
        Server::spawn_bin(std::path::Path::new(&server_bin()), dir, no_auth, extra)
    }

    fn spawn_bin(bin: &std::path::Path, dir: TempDir, no_auth: bool, extra: &[&str]) -> Server {
        let mut cmd = Spawn::serve(bin)
            .args(["--flush-interval", "50ms"])
            .db(&dir.db())
            .deadline(TIMEOUT);
        if !extra.contains(&"--no-allow-root") {
            cmd = cmd.arg("--allow-root");
        }
        if no_auth {
            cmd = cmd.arg("--no-auth");
        }
        let proc = cmd
            .args(extra.iter().filter(|a| **a != "--no-allow-root"))
            .start();
        Server {
            addr: proc.addr.clone(),
            proc,
            dir,
            token: None,
        }
    }

    /// The `Authorization` header for [`Server::token`], if there is one.
    fn auth_header(&self) -> Option<(&'static str, String)> {
        self.token
            .as_ref()
            .map(|t| ("Authorization", format!("Bearer {t}")))
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// Waits (at most [`TIMEOUT`]) until the log holds `needle` at least `count` times.
    pub fn wait_log(&self, needle: &str, count: usize) {
        self.proc.wait_log(needle, count);
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) {
        self.proc.signal(signal);
    }

    pub fn pid(&self) -> Pid {
        self.proc.pid()
    }

    /// SIGTERM, then waits (at most [`TIMEOUT`], then SIGKILL): the exit status and how long
    /// the server took to exit. Its log is complete afterwards.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        self.proc.stop()
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None)
    }

    /// A request with a JSON body (`None`: no body), with [`Server::token`] if set.
    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let auth = self.auth_header();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some((k, v)) = &auth {
            headers.push((k, v));
        }
        match body {
            Some(v) => {
                headers.push(("Content-Type", "application/json"));
                http(&self.addr, method, path, &headers, v.to_string().as_bytes())
            }
            None => http(&self.addr, method, path, &headers, b""),
        }
    }

    /// Creates a session (asserting 201) and returns its object.
    pub fn create(&self, body: Value) -> Value {
        let r = self.send("POST", "/api/sessions", Some(body.clone()));
        assert_eq!(r.status, 201, "create {body}: {}", r.text());
        r.json()["session"].clone()
    }

    /// A session running `command` in `/`; its id.
    pub fn run(&self, command: &str) -> String {
        id(&self.create(json!({ "command": command, "cwd": "/" })))
    }

    pub fn session(&self, id: &str) -> Value {
        let r = self.get(&format!("/api/sessions/{id}"));
        assert_eq!(r.status, 200, "get {id}: {}", r.text());
        r.json()["session"].clone()
    }

    /// Waits for the session to end (by its `session.exited` event) and returns its record.
    pub fn wait_exit(&self, id: &str) -> Value {
        let mut events = Events::open_with(&self.addr, self.token.as_deref());
        let now = self.session(id);
        if now["status"] != "running" {
            return now;
        }
        events.next_where(|name, data| name == "session.exited" && data["id"] == id);
        self.session(id)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

/// The password [`Server::start_logged_in`] sets.
pub const PASSWORD: &str = "correct horse battery";

/// Runs `lanterm passwd --db DB` with `password` on standard input; asserts success.
pub fn set_password(db: &std::path::Path, password: &str) {
    let out = passwd(db, password);
    assert!(out.status.success(), "lanterm passwd: {out:?}");
}

/// Runs `lanterm passwd --db DB` with `password` on standard input.
pub fn passwd(db: &std::path::Path, password: &str) -> std::process::Output {
    Spawn::new(BIN)
        .arg("passwd")
        .db(db)
        .stdin(format!("{password}\n"))
        .output()
}

pub fn id(session: &Value) -> String {
    session["id"].as_str().expect("session id").to_owned()
}

/// `n` random bytes from the kernel.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf
}

/// What `seq 1 n` prints on a raw terminal.
pub fn seq(n: u32) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

/// A WebSocket upgrade request's head for `path`, to see the HTTP answer of a refused attach.
pub fn upgrade_head(addr: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes()
}
