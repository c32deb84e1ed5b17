//! What the service leaves where others may read it, against the real binary: its log holds no
//! keystroke or output even at `--log trace` (the journal is readable by more people than the
//! terminal), and its database file (with its `-wal` and `-shm`) is private to its user even
//! when it was found readable by others.

mod common;
#[path = "common/server.rs"]
mod server;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use server::{Client, Server};

/// `text` as the hex digits a byte dump would show.
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Whether `needle` is in `hay` twice: echoed by the terminal, then printed by `cat`.
fn twice(hay: &[u8], needle: &str) -> bool {
    String::from_utf8_lossy(hay).matches(needle).count() >= 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logging_never_shows_what_is_typed_or_printed() {
    let s = Server::start_logged_in(&["--log", "trace"]);
    let bearer = format!("Bearer {}", s.token.as_deref().unwrap());
    let sid = s.run("cat");
    let secret = "hunter2-sudo-password";
    let mut c = Client::attach_with(&s.addr, &sid, "from=0", &[("Authorization", &bearer)]).await;
    // Typed as the page types (binary frames, and a JSON input message), echoed by the terminal
    // and printed again by cat: every path a keystroke and its output take.
    c.send_bytes(format!("{secret}-ws\n").as_bytes()).await;
    c.send_json(serde_json::json!({"type": "input", "data": format!("{secret}-json\n")}))
        .await;
    c.until(|c| twice(&c.bytes, &format!("{secret}-json")))
        .await;
    let r = s.send(
        "POST",
        &format!("/api/sessions/{sid}/input"),
        Some(serde_json::json!({"data": format!("{secret}-post\n")})),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    c.until(|c| twice(&c.bytes, &format!("{secret}-post")))
        .await;
    drop(c);
    // The end of the session is logged after everything above went through the service.
    assert_eq!(
        s.send("DELETE", &format!("/api/sessions/{sid}"), None)
            .status,
        204
    );
    s.wait_log(&format!("session {sid}"), 2);
    let log = s.log();
    assert!(log.contains("DEBUG"), "trace logging is on:\n{log}");
    for needle in [secret.to_owned(), hex(secret), hex("hunter2")] {
        assert!(!log.contains(&needle), "{needle:?} in the log:\n{log}");
    }
}

/// The database and its companions that exist.
fn db_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", db.display())))
        .filter(|p| p.exists())
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_database_readable_by_others_is_made_private_at_start() {
    let dir = common::TempDir::new("dbmode");
    let db = dir.path().join("shared.db");
    let db_arg = db.display().to_string();
    // A service killed outright leaves the database with its -wal and -shm behind.
    let mut first = Server::start(&["--db", &db_arg]);
    first.signal(Signal::SIGKILL);
    first.terminate();
    let files = db_files(&db);
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let s = Server::start(&["--db", &db_arg]);
    for f in db_files(&db) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    s.wait_log("was open to others", 1);
    assert!(
        s.log().contains(&format!("{db_arg}: mode 644")),
        "{}",
        s.log()
    );
}
