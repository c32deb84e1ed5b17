//! Helpers shared by the integration tests: temporary directories, an engine on a temporary
//! database, readers that wait for output or events with a deadline (never a bare sleep),
//! polling with a deadline for state that settles by itself (`poll.rs`), and the one way to
//! start the real binary (`spawn.rs`).
#![allow(dead_code)]

mod poll;
pub mod spawn;
#[allow(unused_imports)]
pub use poll::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lanterm::config::Config;
use lanterm::engine::CreateRequest;
use lanterm::engine::Event;
use lanterm::engine::Manager;
use lanterm::engine::{Chunk, Session};
use lanterm::model::record::SessionInfo;

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("lanterm-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn db(&self) -> PathBuf {
        self.0.join("lanterm.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A configuration as the service would load it from these flags, with a quick flush so tests
/// do not wait long for commits. Sessions may run as root (the tests may run as root).
pub fn config(db: &Path, extra: &[&str]) -> Config {
    let mut args: Vec<String> = vec![
        "--db".into(),
        db.display().to_string(),
        "--allow-root".into(),
        "--flush-interval".into(),
        "50ms".into(),
        "--log".into(),
        "warn".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let env = BTreeMap::from([("HOME".to_string(), "/root".to_string())]);
    Config::load(&args, &env, nix::unistd::geteuid().as_raw()).expect("test config")
}

pub fn engine(db: &Path, extra: &[&str]) -> Manager {
    Manager::start(&config(db, extra)).expect("engine starts")
}

pub fn command(cmd: &str) -> CreateRequest {
    CreateRequest {
        command: Some(cmd.to_owned()),
        cwd: Some("/".into()),
        ..CreateRequest::default()
    }
}

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Reads a session's output from `from` until `done` says the bytes so far are enough or the
/// session ends, failing after [`TIMEOUT`]. Gaps are reported as `None` entries' positions.
pub async fn read_until(
    manager: &Manager,
    session: &Arc<Session>,
    from: u64,
    done: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = from;
    let mut tail = session.watch();
    let work = async {
        loop {
            if done(&out) {
                return;
            }
            match session
                .read_at(manager.store(), offset, 256 * 1024)
                .await
                .expect("read_at")
            {
                Chunk::Data(bytes) => {
                    offset += bytes.len() as u64;
                    out.extend_from_slice(&bytes);
                }
                Chunk::Gap { from, to } => panic!("unexpected gap {from}..{to}"),
                Chunk::Wait => {
                    let _ = tail.changed().await;
                }
                Chunk::End => return,
            }
        }
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            let tail = &out[out.len().saturating_sub(300)..];
            panic!(
                "timed out after {} bytes ending {:?}",
                out.len(),
                String::from_utf8_lossy(tail)
            )
        });
    out
}

/// Everything the session has produced, read after it ended.
pub async fn read_all(manager: &Manager, session: &Arc<Session>) -> Vec<u8> {
    read_until(manager, session, 0, |_| false).await
}

/// Waits for the session to end and returns its final record.
pub async fn wait_exit(manager: &Manager, id: &str) -> SessionInfo {
    let session = manager.session(id).expect("session exists");
    let mut tail = session.watch();
    tokio::time::timeout(TIMEOUT, tail.wait_for(|t| !t.running))
        .await
        .expect("session ends in time")
        .expect("watch open");
    manager.get(id).expect("session record")
}

/// Waits for the next event matching `f`.
pub async fn next_event(
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
    f: impl Fn(&Event) -> bool,
) -> Event {
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match rx.recv().await {
                Ok(e) if f(&e) => return e,
                Ok(_) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    })
    .await
    .expect("event in time")
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A stored chunk's output, decoded from the file as docs/PROTOCOL.md's storage notes say:
/// `data` is an LZ4 block of `raw_len` bytes when `raw_len` is set, else the output itself.
pub fn decode_chunk(data: Vec<u8>, raw_len: Option<i64>) -> Vec<u8> {
    match raw_len {
        None => data,
        Some(len) => {
            let out = lz4_flex::block::decompress(&data, len as usize).expect("chunk decodes");
            assert_eq!(
                out.len() as i64,
                len,
                "a chunk holds the output length it claims"
            );
            out
        }
    }
}
