//! The session manager: the engine's front door and its only handle. Every operation on
//! sessions is a method here (the API, the upgrade and the tests call nothing else), with the
//! limits and the change events; the work is done by the engine's other modules.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::broadcast;

use crate::config::Config;
use crate::engine::adopt::{self, Frozen, HandedSession};
use crate::engine::client_guard::ClientGuard;
use crate::engine::event::Event;
use crate::engine::launch::{self, CreateRequest, Plan};
use crate::engine::session::Session;
use crate::engine::shared::Shared;
use crate::engine::{idle, retention, signals};
use crate::model::error::{Code, Error, Result};
use crate::model::id::SessionId;
use crate::model::record::{SessionInfo, Status};
use crate::store::{Health, Store};

/// Longest wait for sessions to end when the service shuts down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The engine's handle. Cheap to clone.
#[derive(Clone)]
pub struct Manager {
    shared: Arc<Shared>,
}

impl Manager {
    /// Opens the store, loads the sessions it knows (any still `running` become `lost`) and
    /// starts the idle watcher and the retention sweep, which end with [`Manager::shutdown`].
    /// Call within a tokio runtime.
    pub fn start(config: &Config) -> std::result::Result<Manager, String> {
        let shared = Arc::new(Shared::open(config)?);
        if let Some(idle) = config.idle_timeout {
            tokio::spawn(idle::watch(shared.clone(), idle));
        }
        if let Some(keep) = config.retention {
            tokio::spawn(retention::enforce(shared.clone(), keep));
        }
        Ok(Manager { shared })
    }

    /// Starts a session. The work runs in its own task, so a caller that goes away halfway
    /// cannot leave a process behind without its supervisor.
    pub async fn create(&self, req: CreateRequest) -> Result<SessionInfo> {
        // Reading the kernel's randomness fails only when out of descriptors or memory.
        let id = SessionId::random().map_err(|e| {
            Error::new(
                Code::Unavailable,
                format!("cannot start a session now: {e}"),
            )
        })?;
        let plan = Plan::new(req, self.shared.policy(), &id)?;
        // An upgrade waits for sessions being started, and holds new ones until it is over.
        let starting = self.shared.hold().starting().await;
        let counted = self.shared.slots().take()?;
        let shared = self.shared.clone();
        tokio::spawn(async move {
            // On failure the slot and the supervisor's count go back as `counted` is dropped.
            let result = launch::start(&shared, id, plan, counted).await;
            drop(starting);
            result
        })
        .await
        .map_err(|e| Error::internal(format!("starting the session: {e}")))?
    }

    /// Every session, newest first; only those with `status` if given.
    pub fn list(&self, status: Option<Status>) -> Vec<SessionInfo> {
        self.shared.list(status)
    }

    /// The live session handle, for readers and writers.
    pub fn session(&self, id: &str) -> Result<Arc<Session>> {
        self.shared.find(id)
    }

    pub fn get(&self, id: &str) -> Result<SessionInfo> {
        Ok(self.session(id)?.info())
    }

    pub async fn rename(&self, id: &str, name: &str) -> Result<SessionInfo> {
        launch::check_name(name)?;
        let session = self.session(id)?;
        let info = session.update(|i| i.name = name.to_owned());
        self.shared.store().update(&info).await?;
        self.shared.announce(Event::Updated(info.clone()));
        Ok(info)
    }

    pub async fn input(&self, id: &str, data: &[u8]) -> Result<()> {
        self.session(id)?.write_input(data).await
    }

    pub async fn resize(&self, id: &str, cols: i64, rows: i64) -> Result<SessionInfo> {
        let cols = launch::dimension("cols", Some(cols), 80)?;
        let rows = launch::dimension("rows", Some(rows), 24)?;
        let info = self.session(id)?.resize(cols, rows)?;
        self.shared.store().update(&info).await?;
        self.shared.announce(Event::Updated(info.clone()));
        Ok(info)
    }

    /// Asks a session to end: `signal`, or HUP then TERM; SIGKILL to whatever is left of it
    /// after the grace period. A session that has already ended is returned as it is.
    pub fn stop(&self, id: &str, signal: Option<Signal>) -> Result<SessionInfo> {
        let session = self.session(id)?;
        signals::stop(&session, signal, self.shared.stop_grace());
        Ok(session.info())
    }

    /// Stops a running session, waits for it to end, then removes it and its stored output.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.shared.delete(id).await
    }

    /// Deletes every session that ended more than `keep` ago (what `--retention` does at start
    /// and hourly); returns how many went.
    pub async fn delete_expired(&self, keep: Duration) -> usize {
        retention::sweep(&self.shared, keep).await
    }

    /// Counts an attached client until the guard is dropped; at most `max` per session.
    pub fn attach(&self, id: &str, max: usize) -> Result<ClientGuard> {
        let session = self.session(id)?;
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        let guard =
            ClientGuard::count(&session, max, self.shared.events().clone()).ok_or_else(|| {
                Error::new(
                    Code::LimitReached,
                    format!(
                        "{max} clients are attached to this session, the limit (--max-clients)"
                    ),
                )
            })?;
        self.shared.store().watching(session.seq);
        self.shared.announce(Event::Updated(session.info()));
        Ok(guard)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.subscribe()
    }

    pub fn store(&self) -> &Arc<Store> {
        self.shared.store()
    }

    pub fn health(&self) -> Health {
        self.shared.store().health()
    }

    /// Ends every running session (HUP, TERM, then KILL within a short grace), waits for their
    /// records, commits everything and closes the database.
    pub async fn shutdown(&self) {
        self.shared.close();
        let grace = self.shared.stop_grace().min(SHUTDOWN_GRACE);
        for session in self.shared.sessions() {
            if session.status().is_running() {
                signals::stop(&session, None, grace);
            }
        }
        let mut supervisors = self.shared.slots().supervisors();
        let all_ended = supervisors.wait_for(|n| *n == 0);
        if tokio::time::timeout(grace + Duration::from_millis(500), all_ended)
            .await
            .is_err()
        {
            log::warn!("shutdown: some sessions did not end in time; they will show as lost");
        }
        let store = self.shared.store().clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }

    /// Resolves once the manager has begun to shut down; background tasks stop then, so
    /// nothing keeps a shut-down manager (its store, its read connection) alive.
    pub async fn closed(&self) {
        self.shared.closed().await;
    }

    /// For an upgrade: waits (at most `limit`) until no client is attached to any session.
    /// `false` if some still are.
    pub async fn clients_gone(&self, limit: Duration) -> bool {
        adopt::clients_gone(&self.shared, limit).await
    }

    /// For an upgrade: holds every running session still, its output committed (see
    /// [`adopt::freeze`]). Dropping the answer lets them go on.
    pub async fn freeze(&self) -> std::result::Result<Frozen, String> {
        adopt::freeze(&self.shared).await
    }

    /// In the new program of an upgrade: takes over the sessions handed over; returns how many
    /// were taken over (the others stay `lost`, their processes ended).
    pub async fn adopt(&self, handed: Vec<HandedSession>) -> usize {
        adopt::adopt(&self.shared, handed).await
    }
}
