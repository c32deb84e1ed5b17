//! The client commands, driven as a person would: `lanterm attach` runs on a real PTY (its own
//! terminal), types, resizes, detaches with Ctrl-\ twice, and survives a dropped connection
//! (through a proxy the test cuts) with nothing shown twice and nothing missing.

mod common;
#[path = "common/server.rs"]
mod server;

use std::sync::Arc;

use common::TIMEOUT;
use common::spawn::Spawn;
use lanterm::engine::pty::{Pty, SpawnSpec};
use serde_json::json;
use server::{BIN, Server};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// `lanterm attach ID --url URL` on a PTY of its own, 80×24.
fn attach(url: &str, id: &str) -> (Pty, tokio::process::Child) {
    let spec = SpawnSpec {
        program: BIN.into(),
        arg0: "lanterm".into(),
        args: vec!["attach".into(), id.into(), "--url".into(), url.into()],
        env: vec![("TERM".into(), "xterm".into())],
        cwd: "/".into(),
        cols: 80,
        rows: 24,
        credentials: None,
    };
    lanterm::engine::pty::spawn(&spec).expect("start lanterm attach")
}

/// Reads the attach client's screen output until `done` holds (or fails after a deadline).
async fn read_until(pty: &Pty, seen: &mut Vec<u8>, done: impl Fn(&str) -> bool) {
    let mut buf = [0u8; 4096];
    let work = async {
        while !done(&String::from_utf8_lossy(seen)) {
            match pty
                .read(&mut buf)
                .await
                .expect("read the client's terminal")
            {
                0 => return,
                n => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    if tokio::time::timeout(common::TIMEOUT, work).await.is_err() {
        panic!(
            "timed out; the client showed: {:?}",
            String::from_utf8_lossy(seen)
        );
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_and_new_work_from_a_script() {
    let s = Server::start(&[]);
    let url = format!("http://{}", s.addr);
    let out = Spawn::new(BIN)
        .args([
            "new", "--name", "build", "--url", &url, "--", "echo", "made",
        ])
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(s.session(&id)["name"], "build");
    let ls = Spawn::new(BIN).args(["ls", "--url", &url]).output();
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(
        listing.contains(&id) && listing.contains("build"),
        "{listing}"
    );
    // A refusal from the service is one line and a failure status.
    let bad = Spawn::new(BIN)
        .args(["new", "--cwd", "/no/such/dir", "--url", &url])
        .output();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("400") && err.contains("/no/such/dir"), "{err}");
}

/// `lanterm ARGS` with `LANTERM_TOKEN` set to `token` (or unset), nothing else of ours.
fn client(args: &[&str], token: Option<&str>) -> std::process::Output {
    let spawn = Spawn::new(BIN).args(args);
    match token {
        Some(t) => spawn.env("LANTERM_TOKEN", t),
        None => spawn,
    }
    .output()
}

#[test]
fn the_token_comes_from_a_file_or_the_environment_not_only_the_command_line() {
    let s = Server::start_logged_in(&[]);
    let token = s.token.clone().unwrap();
    let url = format!("http://{}", s.addr);
    let sid = s.run("sleep 60");
    let file = s.dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let path = file.display().to_string();
    let listed = |out: &std::process::Output| {
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&sid)
    };
    // From the file (its line ending ignored), and from the environment.
    let out = client(&["ls", "--url", &url, "--token-file", &path], None);
    assert!(listed(&out), "{out:?}");
    let out = client(&["ls", "--url", &url], Some(&token));
    assert!(listed(&out), "{out:?}");
    // The file wins over the environment, and without either the service says 401.
    let out = client(&["ls", "--url", &url, "--token-file", &path], Some("stale"));
    assert!(listed(&out), "{out:?}");
    let out = client(&["ls", "--url", &url], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{out:?}"
    );
    // A file that is missing, unreadable or empty is a clear one-line error, exit 2, and the
    // service is not asked.
    let empty = s.dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let missing = s.dir.path().join("missing").display().to_string();
    let unreadable = s.dir.path().display().to_string(); // a directory
    for (bad, says) in [
        (missing.as_str(), "No such file"),
        (unreadable.as_str(), "Is a directory"),
        (&empty.display().to_string(), "holds no token"),
    ] {
        let out = client(&["new", "--url", &url, "--token-file", bad], None);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!("lanterm: --token-file {bad}: ")) && err.contains(says),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let out = client(&["ls", "--token", &token, "--token-file", &path], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        s.get("/api/sessions").json()["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // --help says where the token should come from.
    let help = String::from_utf8_lossy(&client(&["ls", "--help"], None).stdout).into_owned();
    assert!(
        help.contains("--token-file PATH") && help.contains("$LANTERM_TOKEN"),
        "{help}"
    );
    assert!(help.contains("/proc/PID/cmdline"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_types_resizes_detaches_and_replays() {
    let s = Server::start(&[]);
    let id = s.run("echo ready; exec bash --norc --noprofile -i");
    let url = format!("http://{}", s.addr);
    let (pty, mut child) = attach(&url, &id);
    let mut seen = Vec::new();
    read_until(&pty, &mut seen, |t| t.contains("ready")).await;
    pty.write_all(b"echo $((6*7))-answer\r").await.unwrap();
    read_until(&pty, &mut seen, |t| t.contains("42-answer")).await;
    // The attaching terminal's size reaches the session, and follows it (SIGWINCH).
    assert_eq!(
        (
            s.session(&id)["cols"].clone(),
            s.session(&id)["rows"].clone()
        ),
        (json!(80), json!(24))
    );
    pty.resize(100, 30).unwrap();
    // The client sends the new size on SIGWINCH; typing must not race it (a person's keys come
    // long after the window settles), so wait until the session has it.
    let cols = async || s.session(&id)["cols"].clone();
    common::poll_until_async(TIMEOUT, "the resize at the session", cols, |c| *c == 100).await;
    pty.write_all(b"stty size\r").await.unwrap();
    read_until(&pty, &mut seen, |t| t.contains("30 100")).await;
    // Ctrl-\ twice detaches; the session goes on.
    pty.write_all(&[0x1c, 0x1c]).await.unwrap();
    read_until(&pty, &mut seen, |t| t.contains("[detached]")).await;
    let status = tokio::time::timeout(common::TIMEOUT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert_eq!(s.session(&id)["status"], "running");
    // Attaching again shows the history first.
    let (pty, _child) = attach(&url, &id);
    let mut again = Vec::new();
    read_until(&pty, &mut again, |t| {
        t.contains("42-answer") && t.contains("30 100")
    })
    .await;
    pty.write_all(b"exit 3\r").await.unwrap();
    read_until(&pty, &mut again, |t| {
        t.contains("[session failed: exit code 3]")
    })
    .await;
}

/// A TCP proxy to `target` whose connections the test can cut.
struct Proxy {
    addr: String,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let list = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().await.push(conn);
            }
        });
        Proxy {
            addr,
            conns,
            accept,
        }
    }

    /// Drops every connection through the proxy (new ones are still accepted).
    async fn cut(&self) {
        for c in self.conns.lock().await.drain(..) {
            c.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_with_nothing_twice_and_nothing_missing() {
    let s = Server::start(&[]);
    let proxy = Proxy::start(s.addr.clone()).await;
    let id = s.run("echo ready; cat");
    let (pty, _child) = attach(&format!("http://{}", proxy.addr), &id);
    let mut seen = Vec::new();
    // Type only once the client shows the session (its terminal is raw from then on).
    read_until(&pty, &mut seen, |t| t.contains("ready")).await;
    pty.write_all(b"alpha\r").await.unwrap();
    // The tty echoes the line and cat prints it: twice on the screen.
    read_until(&pty, &mut seen, |t| count(t, "alpha") == 2).await;
    proxy.cut().await;
    read_until(&pty, &mut seen, |t| t.contains("reconnecting")).await;
    // Output produced while the client is away arrives once it is back, exactly once.
    let r = s.send(
        "POST",
        &format!("/api/sessions/{id}/input"),
        Some(json!({ "data": "beta\n" })),
    );
    assert_eq!(r.status, 204);
    read_until(&pty, &mut seen, |t| count(t, "beta") >= 2).await;
    pty.write_all(b"gamma\r").await.unwrap();
    read_until(&pty, &mut seen, |t| count(t, "gamma") == 2).await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert_eq!(
        (count(&text, "alpha"), count(&text, "beta")),
        (2, 2),
        "{text:?}"
    );
    // Output is ordered: a duplicate of anything above would show before this last line.
    pty.write_all(b"omega\r").await.unwrap();
    read_until(&pty, &mut seen, |t| count(t, "omega") == 2).await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert_eq!(
        (count(&text, "beta"), count(&text, "gamma")),
        (2, 2),
        "{text:?}"
    );
}
