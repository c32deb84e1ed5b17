//! What the manager, the supervise tasks and the engine's background tasks share: the session
//! registry, the store, the change broadcast, the counts that must be given back (`slots`) and
//! the upgrade's hold (`hold`). The fields are private to this file; the engine goes through
//! the methods, and the rest of the crate through the `Manager`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::engine::event::Event;
use crate::engine::hold::Hold;
use crate::engine::session::Session;
use crate::engine::signals;
use crate::engine::slots::Slots;
use crate::engine::user::Policy;
use crate::model::error::{Error, Result};
use crate::model::id::SessionId;
use crate::model::record::{SessionInfo, Status};
use crate::store::{Store, StoreConfig};

/// Events buffered per subscriber; a subscriber further behind than this misses events
/// (`RecvError::Lagged`) instead of growing memory.
const EVENT_BUFFER: usize = 256;
/// How long a delete waits for a running session to end after stopping it.
const DELETE_WAIT_EXTRA: Duration = Duration::from_secs(2);

pub(super) struct Shared {
    store: Arc<Store>,
    events: broadcast::Sender<Event>,
    sessions: Mutex<HashMap<SessionId, Arc<Session>>>,
    policy: Policy,
    stop_grace: Duration,
    next_seq: AtomicI64,
    slots: Arc<Slots>,
    hold: Hold,
    /// Becomes `true` when the manager shuts down: its background tasks end with it.
    closed: watch::Sender<bool>,
}

impl Shared {
    /// Opens the store and loads the sessions it knows (any still `running` become `lost`).
    pub(super) fn open(config: &Config) -> std::result::Result<Shared, String> {
        let policy = Policy::for_this_process(
            config.default_user.clone(),
            config.allow_root,
            config.allowed_users.clone(),
        )
        .map_err(|e| e.message)?;
        let (store, loaded) = Store::open(StoreConfig {
            path: config.db.clone(),
            history_bytes: config.history_bytes,
            max_bytes: config.store_max_bytes,
            flush_interval: config.flush_interval,
            commit_idle: config.commit_idle,
            flush_bytes: config.flush_bytes,
            queue_bytes: config.store_queue,
            compress: config.compress,
        })?;
        let next_seq = loaded.iter().map(|l| l.info.seq).max().unwrap_or(0) + 1;
        let sessions = loaded
            .into_iter()
            .map(|l| (l.info.id.clone(), Session::loaded(l.info, l.progress)))
            .collect();
        Ok(Shared {
            store: Arc::new(store),
            events: broadcast::Sender::new(EVENT_BUFFER),
            sessions: Mutex::new(sessions),
            policy,
            stop_grace: config.stop_grace,
            next_seq: AtomicI64::new(next_seq),
            slots: Slots::new(config.max_sessions),
            hold: Hold::new(),
            closed: watch::Sender::new(false),
        })
    }

    pub(super) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(super) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// How long a stopped session has before SIGKILL (`--stop-grace`).
    pub(super) fn stop_grace(&self) -> Duration {
        self.stop_grace
    }

    pub(super) fn slots(&self) -> &Arc<Slots> {
        &self.slots
    }

    pub(super) fn hold(&self) -> &Hold {
        &self.hold
    }

    /// The store's key for a new session.
    pub(super) fn next_seq(&self) -> i64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Tells every subscriber of the change broadcast (nobody listening is fine).
    pub(super) fn announce(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The broadcast itself, for a guard that announces when it is dropped.
    pub(super) fn events(&self) -> &broadcast::Sender<Event> {
        &self.events
    }

    fn registry(&self) -> MutexGuard<'_, HashMap<SessionId, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every session known now.
    pub(super) fn sessions(&self) -> Vec<Arc<Session>> {
        self.registry().values().cloned().collect()
    }

    /// The session with id `id` (as given from outside).
    pub(super) fn find(&self, id: &str) -> Result<Arc<Session>> {
        SessionId::parse(id)
            .and_then(|id| self.registry().get(&id).cloned())
            .ok_or_else(|| Error::not_found(format!("no session {id:?}")))
    }

    /// Registers a session that was started or taken over (replacing its loaded record).
    pub(super) fn insert(&self, session: Arc<Session>) {
        self.registry().insert(session.id.clone(), session);
    }

    /// Every session, newest first; only those with `status` if given.
    pub(super) fn list(&self, status: Option<Status>) -> Vec<SessionInfo> {
        let mut list: Vec<SessionInfo> = self
            .sessions()
            .iter()
            .map(|s| s.info())
            .filter(|i| status.is_none_or(|st| i.status == st))
            .collect();
        list.sort_unstable_by_key(|i| std::cmp::Reverse(i.seq));
        list
    }

    /// Stops a running session, waits for it to end, then removes it and its stored output.
    pub(super) async fn delete(&self, id: &str) -> Result<()> {
        let session = self.find(id)?;
        if session.status().is_running() {
            signals::stop(&session, None, self.stop_grace);
            let wait = self.stop_grace + DELETE_WAIT_EXTRA;
            let mut tail = session.watch();
            let ended = tokio::time::timeout(wait, tail.wait_for(|t| !t.running)).await;
            if !matches!(ended, Ok(Ok(_))) {
                return Err(Error::conflict(
                    "the session did not end in time after SIGKILL; try again",
                ));
            }
        }
        self.registry().remove(&session.id);
        self.store.delete(session.seq).await?;
        self.announce(Event::Deleted(session.id.clone()));
        Ok(())
    }

    /// Marks the engine as shutting down: its background tasks end.
    pub(super) fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Resolves once the engine has begun to shut down.
    pub(super) async fn closed(&self) {
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }
}
