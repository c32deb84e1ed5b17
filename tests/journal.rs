//! Log priorities for the journal: under systemd (standard error is the stream `JOURNAL_STREAM`
//! names) every line starts with its sd-daemon priority, so `journalctl -p warning` finds the
//! first-run setup warning; with the variable unset, or naming another stream (a program started
//! from a service, writing to a terminal), lines carry no prefix.

mod common;

use std::io::{BufRead, BufReader, PipeWriter};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use common::{TIMEOUT, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_lanterm");

/// `DEVICE:INODE` of a pipe's write end, as systemd puts it in `JOURNAL_STREAM`.
fn dev_ino(writer: &PipeWriter) -> String {
    let fd = writer.as_fd().try_clone_to_owned().unwrap();
    let meta = std::fs::File::from(fd).metadata().unwrap();
    format!("{}:{}", meta.dev(), meta.ino())
}

/// How `JOURNAL_STREAM` is set for the service.
enum Stream {
    Unset,
    /// The service's own standard error: what systemd does.
    Stderr,
    /// Another pipe than the one the service writes to.
    Other,
}

/// Starts `lanterm serve` without a password (so it warns with the setup link) and returns its
/// log up to both the setup warning and the ready line.
fn first_lines(stream: Stream) -> String {
    let dir = TempDir::new("journal");
    let (reader, writer) = std::io::pipe().unwrap();
    let (_other_reader, other_writer) = std::io::pipe().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--allow-root", "--db"])
        .arg(dir.db())
        .env_clear()
        .env("HOME", "/root");
    match stream {
        Stream::Unset => {}
        Stream::Stderr => {
            cmd.env("JOURNAL_STREAM", dev_ino(&writer));
        }
        Stream::Other => {
            cmd.env("JOURNAL_STREAM", dev_ino(&other_writer));
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .spawn()
        .expect("spawn lanterm serve");
    // The lines arrive on another thread: a wait with a deadline, not a blocking read.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    while !(log.contains("no password is set") && log.contains(" ready on http://")) {
        match rx.recv_timeout(TIMEOUT) {
            Ok(line) => log.push_str(&(line + "\n")),
            Err(e) => {
                let _ = child.kill();
                panic!("no setup warning and ready line ({e}); log so far:\n{log}");
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

fn line_with<'a>(log: &'a str, needle: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{log}"))
}

#[test]
fn under_the_journal_lines_carry_their_priority() {
    let log = first_lines(Stream::Stderr);
    let warning = line_with(&log, "no password is set");
    assert!(warning.starts_with("<4>WARN "), "{warning}");
    let ready = line_with(&log, " ready on http://");
    assert!(ready.starts_with("<6>INFO "), "{ready}");
    // Every line has one, and no timestamp (the journal keeps its own).
    for line in log.lines() {
        assert!(
            ["<3>ERROR ", "<4>WARN ", "<6>INFO ", "<7>"]
                .iter()
                .any(|p| line.starts_with(p)),
            "{line}"
        );
    }
}

#[test]
fn elsewhere_lines_carry_no_priority() {
    for stream in [Stream::Unset, Stream::Other] {
        let log = first_lines(stream);
        let warning = line_with(&log, "no password is set");
        let ready = line_with(&log, " ready on http://");
        for line in [warning, ready] {
            assert!(!line.starts_with('<'), "{line}");
            // A UTC timestamp, as before: 2026-05-20T01:02:03.456Z WARN [...]
            assert!(
                line.as_bytes().first().is_some_and(u8::is_ascii_digit),
                "{line}"
            );
        }
        assert!(warning.contains(" WARN "), "{warning}");
    }
}
