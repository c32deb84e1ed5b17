//! `lanterm serve`: runs the engine until SIGTERM or SIGINT, then shuts down cleanly.

use std::process::ExitCode;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::manager::Manager;

/// The whole clean shutdown (sessions ended, output committed, database closed) fits in this,
/// inside the 5 seconds the contract allows.
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(4500);

/// Runs the service in the foreground; returns the process's exit status.
pub fn run(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            log::error!("cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let manager = match Manager::start(&config) {
        Ok(m) => m,
        Err(e) => {
            log::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let known = manager.list(None).len();
    log::info!(
        "lanterm {} ready: database {} ({known} sessions on record)",
        env!("CARGO_PKG_VERSION"),
        config.db.display()
    );
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM: shutting down"),
        _ = int.recv() => log::info!("SIGINT: shutting down"),
    }
    if tokio::time::timeout(SHUTDOWN_LIMIT, manager.shutdown())
        .await
        .is_err()
    {
        log::warn!("shutdown took too long; exiting with what is committed");
    } else {
        log::info!("stopped cleanly");
    }
    ExitCode::SUCCESS
}
