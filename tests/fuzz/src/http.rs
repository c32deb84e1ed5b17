//! The `http` target's harness: the real server (`api::bind` + `api::serve` on a unix socket,
//! hyper's HTTP/1.1, the router, every handler) over a real `Manager` and SQLite file. Each
//! input is one client connection: its bytes are written, then [`CLOSING`], then the write side
//! is shut down, and the answer is read to the end (printed to stderr when `LANTERM_FUZZ_ECHO`
//! is set, to see what an input gets). hyper takes a client that shuts down its write side for
//! one that left and drops the request it is busy with if nothing follows it in the buffer, so
//! the closing request is there to be the one dropped: every request of the input runs to the
//! end.
//!
//! The database holds one ended session with output (the fixture); `SID` in an input becomes its
//! id, so requests reach sessions, downloads and the WebSocket. Creating sessions is tried, never
//! done: `--max-sessions 1` and the one slot is held by a `sleep` session whose id no input can
//! know, so every create request is checked in full and then refused (429), and no fuzzed
//! command ever runs. An input that deletes the fixture gets a fresh database for the next one.
//!
//! Reported as bugs besides panics: a connection still open [`HANG`] after its input, and a
//! WebSocket client still attached [`HANG`] after its connection ended.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use lanterm::api::{self, Api};
use lanterm::config::Config;
use lanterm::engine::CreateRequest;
use lanterm::engine::Event;
use lanterm::engine::Manager;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::runtime::Runtime;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

/// No byte from the server for this long: the connection is waiting (an event stream, a
/// keep-alive the client cannot end) and the service is told to shut down, as SIGTERM would.
const IDLE: Duration = Duration::from_millis(50);
/// Longer than any answer to one input may take, shutdown (1 s drain) included: a hang.
const HANG: Duration = Duration::from_secs(5);
/// Written after every input (see above); if it gets an answer, the server then closes.
pub const CLOSING: &[u8] =
    b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
/// What the fixture session prints: text with escapes (for `format=text`), then some lines.
const FIXTURE_COMMAND: &str = "printf 'hello \\033[1mbold\\033[0m\\r\\n'; seq 1 300";

pub struct Harness {
    rt: Runtime,
    dir: PathBuf,
    /// The database with the ended fixture session, copied for each generation.
    template: PathBuf,
    /// The fixture session's id.
    sid: String,
    live: Mutex<Live>,
}

/// One generation: a manager on a copy of the template database, its slot held.
struct Live {
    generation: u32,
    config: Config,
    manager: Manager,
}

fn config(dir: &Path, extra: &[&str]) -> Config {
    let sock = format!("unix:{}", dir.join("api.sock").display());
    let db = dir.join("lanterm.db").display().to_string();
    let mut args = vec!["--no-auth", "--allow-root", "--db", &db, "--listen", &sock];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    let env = [("HOME".to_string(), dir.display().to_string())].into();
    Config::load(&args, &env, 0).expect("the harness's settings")
}

impl Harness {
    pub fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = crate::scratch_dir("http");
        let template = dir.join("template");
        std::fs::create_dir_all(&template).expect("template dir");
        let sid = rt.block_on(make_fixture(&template));
        let live = rt.block_on(start(&dir, &template, 0));
        Harness {
            rt,
            dir,
            template,
            sid,
            live: Mutex::new(live),
        }
    }

    /// One input: one connection, answered to the end (or a panic naming the hang).
    pub fn run(&self, data: &[u8]) {
        let mut data = replace(data, b"SID", self.sid.as_bytes());
        data.extend_from_slice(CLOSING);
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        self.rt.block_on(async {
            exchange(&live.config, &live.manager, &self.sid, data).await;
            if live.manager.get(&self.sid).is_err() {
                live.manager.shutdown().await;
                *live = start(&self.dir, &self.template, live.generation + 1).await;
            }
        });
    }
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new()
    }
}

/// Runs the fixture session to its end in a database of its own; returns its id.
async fn make_fixture(dir: &Path) -> String {
    let manager = Manager::start(&config(dir, &[])).expect("fixture manager");
    let mut events = manager.subscribe();
    let info = manager
        .create(CreateRequest {
            name: Some("fixture".into()),
            command: Some(FIXTURE_COMMAND.into()),
            ..CreateRequest::default()
        })
        .await
        .expect("fixture session");
    let id = info.id.as_str().to_owned();
    let ended = async {
        loop {
            match events.recv().await {
                Ok(Event::Exited(i)) if i.id.as_str() == id => return,
                Ok(_) => {}
                Err(e) => panic!("fixture events: {e}"),
            }
        }
    };
    timeout(Duration::from_secs(30), ended)
        .await
        .expect("the fixture session ends");
    manager.shutdown().await;
    id
}

/// A manager on a fresh copy of the template database, with its only session slot taken.
async fn start(dir: &Path, template: &Path, generation: u32) -> Live {
    let gen_dir = dir.join(format!("gen-{generation}"));
    std::fs::create_dir_all(&gen_dir).expect("generation dir");
    for entry in std::fs::read_dir(template).expect("template").flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("lanterm.db") {
            std::fs::copy(entry.path(), gen_dir.join(&name)).expect("copying the template");
        }
    }
    if generation > 0 {
        let _ = std::fs::remove_dir_all(dir.join(format!("gen-{}", generation - 1)));
    }
    let config = config(&gen_dir, &["--max-sessions", "1"]);
    let manager = Manager::start(&config).expect("manager");
    manager
        .create(CreateRequest {
            name: Some("slot-holder".into()),
            command: Some("exec sleep 2147483647".into()),
            ..CreateRequest::default()
        })
        .await
        .expect("the session that holds the only slot");
    Live {
        generation,
        config,
        manager,
    }
}

/// Serves one connection carrying `data`, reads the answer to its end, and checks that no
/// client of it stays attached to the fixture.
async fn exchange(config: &Config, manager: &Manager, sid: &str, data: Vec<u8>) {
    let started = Instant::now();
    let (stop, stop_rx) = watch::channel(false);
    let gate = lanterm::auth::Gate::open(config).expect("the harness's login records");
    let api = Api::new(config, manager.clone(), gate, stop_rx);
    let listeners = api::bind(config).expect("binding the harness's socket");
    let Some(lanterm::config::Listen::Unix(path)) = config.listen.first() else {
        unreachable!("the harness listens on a unix socket");
    };
    let server = tokio::spawn(api::serve(api, listeners));
    let stream = UnixStream::connect(path).await.expect("connecting");
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The server may close first (a 413, a malformed head): then the rest is not sent.
        let _ = wr.write_all(&data).await;
        let _ = wr.shutdown().await;
    });
    let echo = std::env::var_os("LANTERM_FUZZ_ECHO").is_some();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match timeout(IDLE, rd.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) if echo => eprint!("{}", String::from_utf8_lossy(&buf[..n])),
            Ok(Ok(_)) => {}
            Err(_) => {
                let _ = stop.send(true);
            }
        }
        assert!(
            started.elapsed() < HANG,
            "hang: the connection is still open {HANG:?} after the input was sent"
        );
    }
    let _ = stop.send(true);
    match timeout(HANG, server).await {
        Ok(result) => result.expect("serve panicked"),
        Err(_) => panic!("hang: the server did not stop within {HANG:?} of shutdown"),
    }
    writer.abort();
    detached(manager, sid).await;
}

/// Waits until no client is attached to the fixture: an attach whose connection has ended must
/// give its place back (`--max-clients`), or that place is lost for good.
async fn detached(manager: &Manager, sid: &str) {
    let mut events = manager.subscribe();
    let attached = || manager.get(sid).map_or(0, |i| i.clients);
    if attached() == 0 {
        return;
    }
    let gone = async {
        loop {
            match events.recv().await {
                Ok(Event::Updated(i)) if i.id.as_str() == sid && i.clients == 0 => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) if attached() == 0 => return,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    };
    if timeout(HANG, gone).await.is_err() {
        panic!(
            "leak: {} client(s) still attached {HANG:?} after the connection ended",
            attached()
        );
    }
}

/// `data` with every `from` replaced by `to`.
fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}
