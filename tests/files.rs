//! Files in and out of a session, black-box with the real binary: an upload lands byte-exact in
//! the directory the shell `cd`ed into (the foreground process's, not the starting one), an
//! existing name is refused unless overwritten, bad names write nothing, the limit refuses
//! without leaving a partial file, a 1 GiB upload keeps the service small, downloads come back
//! byte-exact; as a non-root session user (when the tests run as root) the kernel decides, as
//! that user, what may be written and read.

mod common;
#[path = "common/server.rs"]
mod server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{TIMEOUT, TempDir};
use serde_json::json;
use server::{Resp, Server, http, id, parse_response, random_bytes};

fn auth(s: &Server) -> String {
    format!("Bearer {}", s.token.as_deref().unwrap_or(""))
}

fn upload(s: &Server, sid: &str, query: &str, body: &[u8]) -> Resp {
    let a = auth(s);
    let path = format!("/api/sessions/{sid}/files?{query}");
    http(&s.addr, "POST", &path, &[("Authorization", &a)], body)
}

fn download(s: &Server, sid: &str, path: &str) -> Resp {
    let a = auth(s);
    let p = format!("/api/sessions/{sid}/files?path={path}");
    http(&s.addr, "GET", &p, &[("Authorization", &a)], b"")
}

/// Types `line` into the session and waits until the shell has run it (it echoes a marker).
fn type_line(s: &Server, sid: &str, line: &str) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data = format!("{line}; echo done-$((40+{n}))\n");
    let r = s.send(
        "POST",
        &format!("/api/sessions/{sid}/input"),
        Some(json!({ "data": data })),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let marker = format!("done-{}", 40 + n);
    let deadline = Instant::now() + TIMEOUT;
    while !s
        .get(&format!("/api/sessions/{sid}/output?format=text"))
        .text()
        .contains(&marker)
    {
        assert!(Instant::now() < deadline, "{line:?} did not run");
        std::thread::sleep(std::time::Duration::from_millis(50)); // polling with a deadline
    }
}

/// A shell session started in `/` that has `cd`ed into `dir`.
fn shell_in(s: &Server, dir: &Path, user: Option<&str>) -> String {
    let mut body = json!({ "cwd": "/" });
    if let Some(u) = user {
        body["user"] = json!(u);
    }
    let sid = id(&s.create(body));
    type_line(s, &sid, &format!("cd {}", dir.display()));
    sid
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn an_upload_lands_in_the_shells_directory_and_comes_back() {
    let s = Server::start_logged_in(&[]);
    let dir = TempDir::new("files-cd");
    let sid = shell_in(&s, dir.path(), None);
    let data = random_bytes(3 << 20);
    let r = upload(&s, &sid, "name=big.bin", &data);
    assert_eq!(r.status, 201, "{}", r.text());
    let target = dir.path().join("big.bin");
    assert_eq!(r.json()["path"], target.to_str().unwrap());
    assert_eq!(r.json()["bytes"], data.len());
    assert!(std::fs::read(&target).unwrap() == data, "not byte-exact");
    s.wait_log("upload: session", 1);

    upload(&s, &sid, "name=big.bin", b"other").assert_error(409, "conflict");
    assert!(
        std::fs::read(&target).unwrap() == data,
        "a refused upload changed the file"
    );
    let smaller = random_bytes(1000);
    let r = upload(&s, &sid, "name=big.bin&overwrite=1", &smaller);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(std::fs::read(&target).unwrap(), smaller);

    for bad in [
        "",
        "name=",
        "name=.",
        "name=..",
        "name=a%2Fb",
        "name=%2F",
        "name=a%00b",
    ] {
        upload(&s, &sid, bad, b"x").assert_error(400, "bad_request");
    }
    assert_eq!(names(dir.path()), ["big.bin"]);

    let r = download(&s, &sid, "big.bin");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, smaller);
    let cd = r.header("content-disposition").unwrap_or("");
    assert!(
        cd.starts_with("attachment;") && cd.contains("big.bin"),
        "{cd}"
    );
    let absolute = download(&s, &sid, target.to_str().unwrap());
    assert_eq!(absolute.body, smaller);
    download(&s, &sid, "missing").assert_error(404, "not_found");
    download(&s, &sid, ".").assert_error(400, "bad_request");

    let r = s.send(
        "POST",
        &format!("/api/sessions/{sid}/stop"),
        Some(json!({})),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    s.wait_exit(&sid);
    upload(&s, &sid, "name=late", b"x").assert_error(409, "conflict");
    download(&s, &sid, "big.bin").assert_error(409, "conflict");
}

#[test]
fn over_the_limit_is_refused_with_no_partial_file() {
    let s = Server::start_logged_in(&["--max-upload", "1MiB"]);
    let dir = TempDir::new("files-limit");
    let sid = shell_in(&s, dir.path(), None);
    let data = random_bytes(2 << 20);
    // Declared too large, and (chunked, no length) found too large while streaming.
    upload(&s, &sid, "name=a", &data).assert_error(413, "payload_too_large");
    let a = auth(&s);
    let mut chunked = Vec::new();
    for piece in data.chunks(100_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let headers = [
        ("Authorization", a.as_str()),
        ("Transfer-Encoding", "chunked"),
    ];
    let p = format!("/api/sessions/{sid}/files?name=b");
    http(&s.addr, "POST", &p, &headers, &chunked).assert_error(413, "payload_too_large");
    let deadline = Instant::now() + TIMEOUT;
    while !names(dir.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            names(dir.path())
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let r = upload(&s, &sid, "name=fits", &data[..1 << 20]);
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn a_client_that_goes_away_mid_upload_leaves_no_file() {
    let s = Server::start_logged_in(&[]);
    let dir = TempDir::new("files-gone");
    let sid = shell_in(&s, dir.path(), None);
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    let head = format!(
        "POST /api/sessions/{sid}/files?name=half HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Length: {}\r\n\r\n",
        auth(&s),
        10 << 20
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&random_bytes(1 << 20)).unwrap();
    // The bytes are on their way to disk: the temporary file is there, NAME is not.
    let deadline = Instant::now() + TIMEOUT;
    while names(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!dir.path().join("half").exists());
    drop(stream);
    while !names(dir.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            names(dir.path())
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The service's peak resident memory, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_one_gib_upload_keeps_the_service_small() {
    let s = Server::start_logged_in(&["--max-upload", "2GiB"]);
    let dir = TempDir::new("files-big");
    let sid = shell_in(&s, dir.path(), None);
    const SIZE: u64 = 1 << 30;
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT * 4)).unwrap();
    let head = format!(
        "POST /api/sessions/{sid}/files?name=gig HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Length: {SIZE}\r\nConnection: close\r\n\r\n",
        auth(&s)
    );
    stream.write_all(head.as_bytes()).unwrap();
    // Generated as it goes: a counter pattern, never the whole gigabyte in memory.
    let mut block = vec![0u8; 1 << 20];
    for i in 0..(SIZE >> 20) {
        block[..8].copy_from_slice(&i.to_le_bytes());
        stream.write_all(&block).unwrap();
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let r = parse_response(&raw);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        std::fs::metadata(dir.path().join("gig")).unwrap().len(),
        SIZE
    );
    let peak = peak_rss_kib(s.pid().as_raw());
    eprintln!("the service peaked at {peak} KiB");
    assert!(peak < 32 * 1024, "the service peaked at {peak} KiB");
    std::fs::remove_file(dir.path().join("gig")).unwrap();
}

#[test]
fn lanterm_get_prints_a_link_that_downloads_the_file() {
    let s = Server::start_logged_in(&[]);
    let dir = TempDir::new("files-get");
    std::fs::write(dir.path().join("a b.txt"), "to the browser").unwrap();
    let sid = shell_in(&s, dir.path(), None);
    type_line(&s, &sid, &format!("{} get 'a b.txt'", server::BIN));
    let out = s
        .get(&format!("/api/sessions/{sid}/output?format=raw"))
        .body;
    let out = String::from_utf8_lossy(&out);
    let start = out.find("\x1b]8;;/api/").expect("an OSC 8 link") + 5;
    let url = &out[start..start + out[start..].find('\x1b').unwrap()];
    let encoded = dir.path().to_str().unwrap().to_owned() + "/a%20b.txt";
    assert_eq!(url, format!("/api/sessions/{sid}/files?path={encoded}"));
    let a = auth(&s);
    let r = http(&s.addr, "GET", url, &[("Authorization", &a)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"to the browser");
}

/// A user made for one test, removed when dropped.
struct TestUser(String);

impl TestUser {
    fn new() -> TestUser {
        let name = format!("lt-files-{}", std::process::id());
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/bash", &name])
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd: {out:?}");
        TestUser(name)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", &self.0]).output();
    }
}

#[test]
fn as_a_user_the_kernel_decides_what_is_written_and_read() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: switching users needs the tests to run as root (CI does)");
        return;
    }
    let user = TestUser::new();
    let uid = nix::unistd::User::from_name(&user.0).unwrap().unwrap().uid;
    let s = Server::start_logged_in(&[]);
    let home = Path::new("/home").join(&user.0);
    let sid = shell_in(&s, &home, Some(&user.0));
    let r = upload(&s, &sid, "name=mine.txt", b"hello");
    assert_eq!(r.status, 201, "{}", r.text());
    let meta = std::fs::metadata(home.join("mine.txt")).unwrap();
    assert_eq!(meta.uid(), uid.as_raw(), "the file is not the user's");
    assert_eq!(download(&s, &sid, "mine.txt").body, b"hello");

    let secret = TempDir::new("files-secret");
    let root_only = secret.path().join("root-only");
    std::fs::write(&root_only, "secret").unwrap();
    std::fs::set_permissions(
        &root_only,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    download(&s, &sid, root_only.to_str().unwrap()).assert_error(403, "forbidden");
    std::os::unix::fs::symlink("/etc/shadow", home.join("shadow")).unwrap();
    download(&s, &sid, "shadow").assert_error(403, "forbidden");

    type_line(&s, &sid, "cd /");
    upload(&s, &sid, "name=nope", b"x").assert_error(403, "forbidden");
    assert!(!Path::new("/nope").exists());
}
