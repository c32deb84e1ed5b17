//! `lanterm serve`: the engine and the network API until SIGTERM or SIGINT, then a clean stop:
//! no new connections, attached clients told goodbye, sessions ended, output committed. SIGHUP
//! reloads the TLS certificate and key (and otherwise changes nothing). SIGUSR2 upgrades: the
//! binary is executed again from disk, keeping the sessions (`upgrade`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, Api, Listeners};
use crate::auth::Gate;
use crate::config::Config;
use crate::handover::{self, Handover};
use crate::manager::Manager;
use crate::stop_signal::StopSignals;
use crate::upgrade::{self, Upgrader};

/// The whole clean shutdown (connections drained, sessions ended, output committed, database
/// closed) fits in this, inside the 5 seconds the contract allows.
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(4500);

/// Runs the service in the foreground; returns the process's exit status.
pub fn run(config: Config) -> ExitCode {
    // Before any thread starts: SIGTERM and SIGINT stay blocked in all of them and are read
    // from a signalfd, so one that arrives during an upgrade's exec is never lost.
    let blocked = crate::stop_signal::block();
    // First, before anything opens a descriptor: what the previous program handed over, if
    // this process is the new program of an upgrade.
    let handover = handover::take();
    if let Err(e) = blocked {
        return failed(handover, e);
    }
    let binary = upgrade::binary(handover.as_ref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return failed(handover, format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(serve(config, handover, binary))
}

/// Startup failed: logged, and if this is the new program of an upgrade, the previous binary
/// is executed again with the sessions (returns only if that is impossible).
fn failed(handover: Option<Handover>, error: String) -> ExitCode {
    log::error!("{error}");
    if let Some(handover) = handover {
        handover.roll_back(&error);
    }
    ExitCode::FAILURE
}

async fn serve(config: Config, handover: Option<Handover>, binary: std::path::PathBuf) -> ExitCode {
    let (mut stop, mut hup, mut usr2) = match (
        StopSignals::new(),
        signal(SignalKind::hangup()).map_err(|e| e.to_string()),
        signal(SignalKind::user_defined2()).map_err(|e| e.to_string()),
    ) {
        (Ok(s), Ok(h), Ok(u)) => (s, h, u),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return failed(handover, format!("cannot handle signals: {e}"));
        }
    };
    handover::signals_handled();
    let manager = match Manager::start(&config) {
        Ok(m) => m,
        Err(e) => return failed(handover, format!("cannot start: {e}")),
    };
    let inherited = handover.as_ref().map_or(&[][..], |h| &h.listeners[..]);
    let listeners = match api::bind_inheriting(&config, inherited) {
        Ok(l) => l,
        Err(e) => {
            manager.shutdown().await;
            return failed(handover, e);
        }
    };
    let gate = match Gate::open(&config) {
        Ok(g) => g,
        Err(e) => {
            manager.shutdown().await;
            return failed(handover, format!("cannot open the login records: {e}"));
        }
    };
    if let Some(h) = handover {
        let handed = h.sessions.len();
        let adopted = manager.adopt(h.sessions).await;
        log::info!("upgrade: took over {adopted} of {handed} running sessions");
    }
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
    let upgrader = Upgrader::new(binary, &config, &listeners);
    let mut reloader = listeners.reloader();
    let mut server = Some(Serving::start(&api, &stop_tx, listeners));
    loop {
        tokio::select! {
            sig = stop.recv() => { log::info!("{sig}: shutting down"); break }
            _ = hup.recv() => { reloader.reload(); continue }
            _ = usr2.recv() => {}
        }
        // Returns only if the upgrade did not happen.
        tokio::select! {
            () = upgrade::attempt(&upgrader, &manager, &stop_tx, &mut server) => {}
            sig = stop.recv() => { log::info!("{sig}: upgrade abandoned, shutting down"); break }
        }
        if server.is_none() {
            // The API was stopped for the handover: serve again.
            match upgrader.listeners(&config) {
                Ok(listeners) => {
                    let _ = stop_tx.send(false);
                    reloader = listeners.reloader();
                    server = Some(Serving::start(&api, &stop_tx, listeners));
                }
                Err(e) => {
                    log::error!("cannot listen again after the failed upgrade: {e}");
                    break;
                }
            }
        }
    }
    notify.stopping();
    drop(upgrader); // its copies of the listening sockets: they close with the accept loops
    let stop = async {
        match server {
            Some(server) => server.stop(&stop_tx).await,
            None => drop(stop_tx.send(true)),
        }
        manager.shutdown().await;
    };
    if tokio::time::timeout(SHUTDOWN_LIMIT, stop).await.is_err() {
        log::warn!("shutdown took too long; exiting with what is committed");
    } else {
        log::info!("stopped cleanly");
    }
    ExitCode::SUCCESS
}

/// The API being served: accepting connections until [`Serving::stop`].
pub struct Serving {
    accepting: watch::Sender<bool>,
    task: JoinHandle<api::Open>,
}

impl Serving {
    /// Serves the API on `listeners` (and watches for password changes) until `stop` says
    /// `true` or [`Serving::stop`].
    fn start(api: &Arc<Api>, stop: &watch::Sender<bool>, listeners: Listeners) -> Serving {
        let watcher = api.clone();
        let mut stopping = stop.subscribe();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopping.wait_for(|s| *s).await;
            };
            watcher.gate.watch_password_changes(stop).await;
        });
        let (accepting, mut until) = watch::channel(true);
        let until = async move {
            let _ = until.wait_for(|a| !*a).await;
        };
        let task = tokio::spawn(api::accept_until(api.clone(), listeners, until));
        Serving { accepting, task }
    }

    /// Stops accepting first (so a client that reconnects at once is not accepted only to be
    /// closed), then tells the connections to stop with `stop` (WebSockets get 1001, event
    /// streams end) and gives them up to 1 s to finish.
    pub async fn stop(self, stop: &watch::Sender<bool>) {
        let _ = self.accepting.send(false);
        let open = self.task.await;
        let _ = stop.send(true);
        if let Ok(open) = open {
            open.drain().await;
        }
    }
}
