//! A damaged database page: a download that meets it fails visibly (the chunked body is broken
//! off, as curl reports "transfer closed with outstanding read data remaining") instead of
//! ending short as if complete, and health says `degraded` (the background `quick_check` finds
//! it too).

mod common;
#[path = "common/server.rs"]
mod server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::TIMEOUT;
use server::{Server, find};

const PAGE: usize = 4096;

/// Whether every stored chunk of the database still reads.
fn output_reads(db: &Path) -> bool {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = match conn.prepare("SELECT data FROM output ORDER BY session, start") {
        Ok(s) => s,
        Err(_) => return false,
    };
    let rows = match stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)) {
        Ok(r) => r,
        Err(_) => return false,
    };
    rows.into_iter().all(|r| r.is_ok())
}

/// Zeroes a page of the file holding some of `output` (stored raw), one whose loss SQLite
/// notices (a zeroed last overflow page would pass for an end of chain): tries pages in turn.
fn damage_a_page(db: &Path, output: &[u8]) {
    let original = std::fs::read(db).unwrap();
    assert_eq!(
        u16::from_be_bytes([original[16], original[17]]) as usize,
        PAGE
    );
    for at in (8_000..output.len() - 64).step_by(20_000) {
        let Some(pos) = find(&original, &output[at..at + 64]) else {
            continue;
        };
        let page = pos / PAGE;
        let mut bytes = original.clone();
        bytes[page * PAGE..(page + 1) * PAGE].fill(0);
        std::fs::write(db, &bytes).unwrap();
        if !output_reads(db) {
            return;
        }
        std::fs::write(db, &original).unwrap();
    }
    panic!("no page of the output could be damaged noticeably");
}

/// `GET path` read to the end of the connection: (head, body as received, chunked framing).
fn raw_get(addr: &str, path: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let end = find(&raw, b"\r\n\r\n").expect("a response head");
    (
        String::from_utf8_lossy(&raw[..end]).into_owned(),
        raw[end + 4..].to_vec(),
    )
}

#[test]
fn a_damaged_page_fails_the_download_visibly_and_degrades_health() {
    let s = Server::start(&["--compress=off"]);
    let id = s.run("stty raw -echo; head -c 300000 /dev/urandom");
    let done = s.wait_exit(&id);
    assert_eq!(done["output_bytes"], 300_000);
    let r = s.get(&format!("/api/sessions/{id}/output?from=0"));
    let output = r.body.clone();
    assert_eq!(output.len(), 300_000, "{:?} {}", r.headers, s.log());
    let dir = s.into_dir(); // a clean stop: everything checkpointed into the file
    let db = dir.db();
    assert_eq!(
        std::fs::metadata(format!("{}-wal", db.display())).map_or(0, |m| m.len()),
        0
    );
    damage_a_page(&db, &output);

    let s = Server::start_in(dir, &["--compress=off"]);
    let (head, body) = raw_get(&s.addr, &format!("/api/sessions/{id}/output?from=0"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    // Broken off: the connection closed without the last chunk, short of the whole output.
    assert!(
        !body.ends_with(b"0\r\n\r\n"),
        "the body ended as if complete"
    );
    assert!(body.len() < output.len(), "{} bytes", body.len());

    let deadline = Instant::now() + TIMEOUT;
    loop {
        let h = s.get("/api/health");
        if h.status == 503 {
            assert_eq!(h.json()["status"], "degraded");
            assert!(h.json()["database"]["damaged"].is_string(), "{}", h.text());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health never degraded: {}",
            h.text()
        );
        std::thread::sleep(Duration::from_millis(20)); // the check runs in the background
    }
    assert!(s.log().contains("is damaged"), "{}", s.log());
}

#[test]
fn the_check_after_start_finds_damage_nobody_has_read_yet() {
    let s = Server::start(&["--compress=off"]);
    let id = s.run("stty raw -echo; head -c 300000 /dev/urandom");
    s.wait_exit(&id);
    let output = s.get(&format!("/api/sessions/{id}/output?from=0")).body;
    let dir = s.into_dir();
    damage_a_page(&dir.db(), &output);
    let s = Server::start_in(dir, &["--compress=off"]);
    s.wait_log("quick_check", 1);
    let h = s.get("/api/health");
    assert_eq!(h.status, 503, "{}", h.text());
    assert_eq!(h.json()["status"], "degraded");
}
