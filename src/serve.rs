//! `lanterm serve`: wires the parts together. The engine, the login records and the network
//! API run until SIGTERM or SIGINT, then a clean stop: no new connections, attached clients told
//! goodbye, sessions ended, output committed. SIGHUP reloads the TLS certificate and key (and
//! otherwise changes nothing). SIGUSR2 upgrades: the binary is executed again from disk, keeping
//! the sessions (`upgrade`). systemd hears about each step (`system::notify`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::api::{self, Api, Listeners, Serving};
use crate::auth::Gate;
use crate::config::Config;
use crate::engine::Manager;
use crate::system::notify;
use crate::system::stop_signal::StopSignals;
use crate::upgrade::handover::{self, Handover};
use crate::upgrade::{self, Upgrader};

/// The whole clean shutdown (connections drained, sessions ended, output committed, database
/// closed) fits in this, inside the 5 seconds the contract allows.
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(4500);

/// Runs the service in the foreground; returns the process's exit status.
pub fn run(config: Config) -> ExitCode {
    // Before any thread starts: SIGTERM and SIGINT stay blocked in all of them and are read
    // from a signalfd, so one that arrives during an upgrade's exec is never lost.
    let blocked = crate::system::stop_signal::block();
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
    let mut signals = match Signals::handle() {
        Ok(s) => s,
        Err(e) => return failed(handover, format!("cannot handle signals: {e}")),
    };
    handover::signals_handled();
    let (manager, listeners, gate) = match open(&config, handover.as_ref()).await {
        Ok(opened) => opened,
        Err(e) => return failed(handover, e),
    };
    if let Some(h) = handover {
        let handed = h.sessions.len();
        let adopted = manager.adopt(h.sessions).await;
        log::info!("upgrade: took over {adopted} of {handed} running sessions");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let api = Api::new(&config, manager.clone(), gate, stop_rx);
    ready(&config, &api, &manager, &listeners).await;
    let notify = notify::started(&manager, &listeners.addresses()); // READY=1, watchdog
    let upgrader = Upgrader::new(binary, &config, &listeners);
    let parts = Parts {
        config: &config,
        api: &api,
        manager: &manager,
        upgrader: &upgrader,
        stop: &stop_tx,
    };
    let server = serve_until_stopped(&parts, &mut signals, listeners).await;
    notify.stopping();
    drop(upgrader); // its copies of the listening sockets: they close with the accept loops
    shut_down(server, stop_tx, &manager).await;
    ExitCode::SUCCESS
}

/// The signals `serve` acts on.
struct Signals {
    /// SIGTERM and SIGINT, from a signalfd (`system::stop_signal`): never lost across an exec.
    stop: StopSignals,
    hup: Signal,
    usr2: Signal,
}

impl Signals {
    fn handle() -> Result<Signals, String> {
        let tokio_signal = |kind| signal(kind).map_err(|e| e.to_string());
        Ok(Signals {
            stop: StopSignals::new()?,
            hup: tokio_signal(SignalKind::hangup())?,
            usr2: tokio_signal(SignalKind::user_defined2())?,
        })
    }
}

/// Opens the engine, the listening sockets (those handed over by an upgrade first) and the
/// login records; on failure, what was opened is closed again.
async fn open(
    config: &Config,
    handover: Option<&Handover>,
) -> Result<(Manager, Listeners, Gate), String> {
    let manager = Manager::start(config).map_err(|e| format!("cannot start: {e}"))?;
    let inherited = handover.map_or(&[][..], |h| &h.listeners[..]);
    let rest = api::bind_inheriting(config, inherited).and_then(|listeners| {
        Gate::open(config)
            .map(|gate| (listeners, gate))
            .map_err(|e| format!("cannot open the login records: {e}"))
    });
    match rest {
        Ok((listeners, gate)) => Ok((manager, listeners, gate)),
        Err(e) => {
            manager.shutdown().await;
            Err(e)
        }
    }
}

/// The first-run setup link, and the lines that say the service is ready.
async fn ready(config: &Config, api: &Api, manager: &Manager, listeners: &Listeners) {
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
}

/// What the serving loop works with.
struct Parts<'a> {
    config: &'a Config,
    api: &'a Arc<Api>,
    manager: &'a Manager,
    upgrader: &'a Upgrader,
    /// Tells connections to stop (`true`), for an upgrade or the shutdown.
    stop: &'a watch::Sender<bool>,
}

/// Serves until SIGTERM or SIGINT: SIGHUP reloads the certificate, SIGUSR2 upgrades (and when
/// the upgrade does not happen, serves again). Returns the API still being served, if any.
async fn serve_until_stopped(
    p: &Parts<'_>,
    signals: &mut Signals,
    listeners: Listeners,
) -> Option<Serving> {
    let mut reloader = listeners.reloader();
    let mut server = Some(Serving::start(p.api, p.stop, listeners));
    loop {
        tokio::select! {
            sig = signals.stop.recv() => { log::info!("{sig}: shutting down"); break }
            _ = signals.hup.recv() => { reloader.reload(); continue }
            _ = signals.usr2.recv() => {}
        }
        // Returns only if the upgrade did not happen.
        tokio::select! {
            () = upgrade::attempt(p.upgrader, p.manager, p.stop, &mut server) => {}
            sig = signals.stop.recv() => { log::info!("{sig}: upgrade abandoned, shutting down"); break }
        }
        if server.is_none() {
            // The API was stopped for the handover: serve again.
            match p.upgrader.listeners(p.config) {
                Ok(listeners) => {
                    let _ = p.stop.send(false);
                    reloader = listeners.reloader();
                    server = Some(Serving::start(p.api, p.stop, listeners));
                }
                Err(e) => {
                    log::error!("cannot listen again after the failed upgrade: {e}");
                    break;
                }
            }
        }
    }
    server
}

/// The clean stop, within [`SHUTDOWN_LIMIT`]: the API (nothing accepted, then connections told
/// to stop), then the engine (sessions ended, output committed, database closed).
async fn shut_down(server: Option<Serving>, stop: watch::Sender<bool>, manager: &Manager) {
    let stopping = async {
        match server {
            Some(server) => server.stop(&stop).await,
            None => drop(stop.send(true)),
        }
        manager.shutdown().await;
    };
    if tokio::time::timeout(SHUTDOWN_LIMIT, stopping)
        .await
        .is_err()
    {
        log::warn!("shutdown took too long; exiting with what is committed");
    } else {
        log::info!("stopped cleanly");
    }
}
