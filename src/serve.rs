//! `lanterm serve`: the engine and the network API until SIGTERM or SIGINT, then a clean stop:
//! no new connections, attached clients told goodbye, sessions ended, output committed. SIGHUP
//! reloads the TLS certificate and key (and otherwise changes nothing).

use std::process::ExitCode;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::api::{self, Api};
use crate::auth::Gate;
use crate::config::Config;
use crate::manager::Manager;

/// The whole clean shutdown (connections drained, sessions ended, output committed, database
/// closed) fits in this, inside the 5 seconds the contract allows.
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
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
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
    let listeners = match api::bind(&config) {
        Ok(l) => l,
        Err(e) => {
            log::error!("{e}");
            manager.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    let gate = match Gate::open(&config) {
        Ok(g) => g,
        Err(e) => {
            log::error!("cannot open the login records: {e}");
            manager.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let api = Api::new(&config, manager.clone(), gate, stop_rx);
    if config.no_auth {
        log::warn!("--no-auth: anyone who can reach the listed addresses gets a shell");
    }
    if !config.no_auth
        && let Err(e) = api.gate.first_start(&listeners.addresses()).await
    {
        log::error!("cannot prepare the first-run setup link: {e}");
    }
    log::debug!("browser UI: {} bytes embedded", api::ui_bytes());
    let known = manager.list(None).len();
    log::info!(
        "lanterm {} ready on {}: database {} ({known} sessions on record)",
        env!("CARGO_PKG_VERSION"),
        listeners.addresses().join(", "),
        config.db.display()
    );
    let notify = crate::notify::started(&manager, &listeners.addresses()); // READY=1, watchdog
    let watcher = api.clone();
    let mut stopping = stop_tx.subscribe();
    tokio::spawn(async move {
        let stop = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        watcher.gate.watch_password_changes(stop).await;
    });
    let reloader = listeners.reloader();
    let server = tokio::spawn(api::serve(api, listeners));
    loop {
        tokio::select! {
            _ = term.recv() => {
                log::info!("SIGTERM: shutting down");
                break;
            }
            _ = int.recv() => {
                log::info!("SIGINT: shutting down");
                break;
            }
            _ = hup.recv() => reloader.reload(),
        }
    }
    notify.stopping();
    let stop = async {
        let _ = stop_tx.send(true);
        let _ = server.await;
        manager.shutdown().await;
    };
    if tokio::time::timeout(SHUTDOWN_LIMIT, stop).await.is_err() {
        log::warn!("shutdown took too long; exiting with what is committed");
    } else {
        log::info!("stopped cleanly");
    }
    ExitCode::SUCCESS
}
