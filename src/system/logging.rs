//! Logging to standard error through `log` and `simple_logger`; under journald, no timestamps
//! and each line prefixed with its sd-daemon priority (`<4>` for a warning).
//!
//! Nothing logged may hold what a terminal carries: lanterm's own lines never include input or
//! output bytes, and other crates stop at `debug` whatever `--log` says, because their `trace`
//! lines do (tungstenite logs every WebSocket frame it reads or writes, keystrokes included).

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use log::{Level, LevelFilter, Log, Metadata, Record};
use simple_logger::SimpleLogger;

/// The most other crates may log: their `trace` lines carry the data they move.
const OTHERS_AT_MOST: LevelFilter = LevelFilter::Debug;

/// Installs the logger: lanterm's lines at `level`, other crates' at `level` but at most
/// [`OTHERS_AT_MOST`]. Under systemd, with standard error connected to the journal, the
/// journal adds timestamps itself and reads a `<N>` prefix as the line's priority, so
/// `journalctl -p warning` shows warnings and errors; elsewhere lines carry UTC timestamps.
pub fn init(level: LevelFilter) {
    let logger = SimpleLogger::new()
        .with_level(level.min(OTHERS_AT_MOST))
        .with_module_level("lanterm", level);
    // Both fail only if a logger is already installed (tests that start several services).
    if journal_stream() {
        let journal = Journal(logger.without_timestamps());
        log::set_max_level(journal.0.max_level());
        let _ = log::set_boxed_logger(Box::new(journal));
    } else {
        let _ = logger.with_utc_timestamps().init();
    }
}

/// Whether standard error is the journal stream systemd made: `JOURNAL_STREAM` holds its
/// `DEVICE:INODE`. A program started from a service inherits the variable but may write
/// elsewhere (`lanterm passwd` typed in a terminal), hence the comparison (sd-daemon(3)).
fn journal_stream() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// `simple_logger`'s filtering and format, each line led by its syslog priority (it has no
/// hook for a prefix).
struct Journal(SimpleLogger);

/// sd-daemon(3) priorities: `<3>` error, `<4>` warning, `<6>` info, `<7>` debug.
fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

impl Log for Journal {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = match record.target() {
            "" => record.module_path().unwrap_or_default(),
            t => t,
        };
        let text = format!("{:<5} [{target}] {}", record.level(), record.args());
        let prefix = format!("<{}>", priority(record.level()));
        // Each line of a multi-line message is a journal entry of its own: prefix them all.
        let mut out = String::with_capacity(text.len() + 8);
        for line in text.split('\n') {
            out.push_str(&prefix);
            out.push_str(line);
            out.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }

    fn flush(&self) {}
}
