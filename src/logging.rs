//! Logging to standard error through `log` and `simple_logger`; no timestamps under journald.
//!
//! Nothing logged may hold what a terminal carries: lanterm's own lines never include input or
//! output bytes, and other crates stop at `debug` whatever `--log` says, because their `trace`
//! lines do (tungstenite logs every WebSocket frame it reads or writes, keystrokes included).

use log::LevelFilter;
use simple_logger::SimpleLogger;

/// The most other crates may log: their `trace` lines carry the data they move.
const OTHERS_AT_MOST: LevelFilter = LevelFilter::Debug;

/// Installs the logger: lanterm's lines at `level`, other crates' at `level` but at most
/// [`OTHERS_AT_MOST`]. Under systemd (`JOURNAL_STREAM` set) the journal adds timestamps itself,
/// so lines carry none; elsewhere they carry UTC timestamps.
pub fn init(level: LevelFilter) {
    let logger = SimpleLogger::new()
        .with_level(level.min(OTHERS_AT_MOST))
        .with_module_level("lanterm", level);
    let logger = if std::env::var_os("JOURNAL_STREAM").is_some() {
        logger.without_timestamps()
    } else {
        logger.with_utc_timestamps()
    };
    // Fails only if a logger is already installed (tests that start several services).
    let _ = logger.init();
}
