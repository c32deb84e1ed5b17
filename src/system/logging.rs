//! Logging to standard error through `log` and `simple_logger`; no timestamps under journald.

use log::LevelFilter;
use simple_logger::SimpleLogger;

/// Installs the logger. Under systemd (`JOURNAL_STREAM` set) the journal adds timestamps itself,
/// so lines carry none; elsewhere they carry UTC timestamps.
pub fn init(level: LevelFilter) {
    let logger = SimpleLogger::new().with_level(level);
    let logger = if std::env::var_os("JOURNAL_STREAM").is_some() {
        logger.without_timestamps()
    } else {
        logger.with_utc_timestamps()
    };
    // Fails only if a logger is already installed (tests that start several services).
    let _ = logger.init();
}
