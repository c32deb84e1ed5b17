//! The session manager: the registry of sessions and every operation on them, with limits and
//! change events. This is the engine's front door; the API (and the tests) call only this.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::sync::{broadcast, watch};

use crate::clock::Timestamp;
use crate::config::Config;
use crate::error::{Code, Error, Result};
use crate::event::Event;
use crate::id::SessionId;
use crate::launch::{self, CreateRequest, Plan};
use crate::pty;
use crate::reaper::Reaper;
use crate::record::{SessionInfo, Status};
use crate::session::Session;
use crate::store::{Health, Store, StoreConfig};
use crate::user::Policy;

/// Events buffered per subscriber; a subscriber further behind than this misses events
/// (`RecvError::Lagged`) instead of growing memory.
const EVENT_BUFFER: usize = 256;
/// How long a delete waits for a running session to end after stopping it.
const DELETE_WAIT_EXTRA: Duration = Duration::from_secs(2);
/// Longest wait for sessions to end when the service shuts down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// State shared by the manager, the supervising tasks and the idle watcher.
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) events: broadcast::Sender<Event>,
    sessions: Mutex<HashMap<SessionId, Arc<Session>>>,
    policy: Policy,
    max_sessions: usize,
    pub(crate) stop_grace: Duration,
    next_seq: AtomicI64,
    /// Supervisors still working (sessions being started, running, or being recorded).
    pub(crate) live: watch::Sender<usize>,
    /// Sessions started or being started and not yet ended: what `max_sessions` limits.
    live_slots: AtomicUsize,
    /// Held (shared) while a session starts; an upgrade holds it exclusively (see `adopt`).
    pub(crate) spawning: Arc<tokio::sync::RwLock<()>>,
    /// `true` while an upgrade asks the supervisors to hold still; `frozen` counts those that do.
    pub(crate) freeze: watch::Sender<bool>,
    pub(crate) frozen: watch::Sender<usize>,
    /// Becomes `true` when the manager shuts down: its background tasks end with it.
    closed: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<SessionId, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one of `max_sessions` slots, or says the limit is reached.
    fn take_slot(&self) -> Result<()> {
        let max = self.max_sessions;
        self.live_slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| {
                Error::new(
                    Code::LimitReached,
                    format!("{max} sessions are running, the limit (--max-sessions)"),
                )
            })?;
        self.live.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Takes a slot whatever the limit (a session adopted across an upgrade is running already).
    pub(crate) fn force_slot(&self) {
        self.live_slots.fetch_add(1, Ordering::AcqRel);
        self.live.send_modify(|n| *n += 1);
    }

    /// Gives a slot back: the session has ended (or never started).
    pub(crate) fn release_slot(&self) {
        self.live_slots.fetch_sub(1, Ordering::AcqRel);
    }

    /// A session's supervisor has finished all its work (record and output handed to the
    /// store); shutdown waits for every one of these before closing the store.
    pub(crate) fn supervisor_done(&self) {
        self.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The engine's handle. Cheap to clone.
#[derive(Clone)]
pub struct Manager {
    pub(crate) shared: Arc<Shared>,
}

/// The signals a stop request may ask for.
pub fn parse_stop_signal(name: &str) -> Result<Signal> {
    match name {
        "TERM" => Ok(Signal::SIGTERM),
        "HUP" => Ok(Signal::SIGHUP),
        "INT" => Ok(Signal::SIGINT),
        "KILL" => Ok(Signal::SIGKILL),
        other => Err(Error::bad_request(format!(
            "signal must be one of TERM, HUP, INT, KILL, not {other:?}"
        ))),
    }
}

impl Manager {
    /// Opens the store, loads the sessions it knows (any still `running` become `lost`) and
    /// starts the idle watcher. Call within a tokio runtime.
    pub fn start(config: &Config) -> std::result::Result<Manager, String> {
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
        let shared = Arc::new(Shared {
            store: Arc::new(store),
            events: broadcast::Sender::new(EVENT_BUFFER),
            sessions: Mutex::new(sessions),
            policy,
            max_sessions: config.max_sessions,
            stop_grace: config.stop_grace,
            next_seq: AtomicI64::new(next_seq),
            live: watch::Sender::new(0),
            live_slots: AtomicUsize::new(0),
            spawning: Arc::new(tokio::sync::RwLock::new(())),
            freeze: watch::Sender::new(false),
            frozen: watch::Sender::new(0),
            closed: watch::Sender::new(false),
        });
        let manager = Manager { shared };
        if let Some(idle) = config.idle_timeout {
            tokio::spawn(crate::idle::watch(manager.clone(), idle));
        }
        if let Some(keep) = config.retention {
            tokio::spawn(crate::retention::enforce(manager.clone(), keep));
        }
        Ok(manager)
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
        let plan = Plan::new(req, &self.shared.policy, &id)?;
        // An upgrade waits for sessions being started, and holds new ones until it is over.
        let spawning = self.shared.spawning.clone().read_owned().await;
        self.shared.take_slot()?;
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let result = start(&shared, id, plan).await;
            drop(spawning);
            if result.is_err() {
                shared.release_slot();
                shared.supervisor_done();
            }
            result
        })
        .await
        .map_err(|e| Error::internal(format!("starting the session: {e}")))?
    }

    /// Every session, newest first; only those with `status` if given.
    pub fn list(&self, status: Option<Status>) -> Vec<SessionInfo> {
        let sessions: Vec<Arc<Session>> = self.shared.sessions().values().cloned().collect();
        let mut list: Vec<SessionInfo> = sessions
            .iter()
            .map(|s| s.info())
            .filter(|i| status.is_none_or(|st| i.status == st))
            .collect();
        list.sort_unstable_by_key(|i| std::cmp::Reverse(i.seq));
        list
    }

    /// The live session handle, for readers and writers.
    pub fn session(&self, id: &str) -> Result<Arc<Session>> {
        SessionId::parse(id)
            .and_then(|id| self.shared.sessions().get(&id).cloned())
            .ok_or_else(|| Error::not_found(format!("no session {id:?}")))
    }

    pub fn get(&self, id: &str) -> Result<SessionInfo> {
        Ok(self.session(id)?.info())
    }

    pub async fn rename(&self, id: &str, name: &str) -> Result<SessionInfo> {
        launch::check_name(name)?;
        let session = self.session(id)?;
        let info = session.update(|i| i.name = name.to_owned());
        self.shared.store.update(&info).await?;
        let _ = self.shared.events.send(Event::Updated(info.clone()));
        Ok(info)
    }

    pub async fn input(&self, id: &str, data: &[u8]) -> Result<()> {
        self.session(id)?.write_input(data).await
    }

    pub async fn resize(&self, id: &str, cols: i64, rows: i64) -> Result<SessionInfo> {
        let cols = launch::dimension("cols", Some(cols), 80)?;
        let rows = launch::dimension("rows", Some(rows), 24)?;
        let info = self.session(id)?.resize(cols, rows)?;
        self.shared.store.update(&info).await?;
        let _ = self.shared.events.send(Event::Updated(info.clone()));
        Ok(info)
    }

    /// Asks a session to end: `signal`, or HUP then TERM; SIGKILL to whatever is left of it
    /// after the grace period. A session that has already ended is returned as it is.
    pub fn stop(&self, id: &str, signal: Option<Signal>) -> Result<SessionInfo> {
        let session = self.session(id)?;
        stop_session(&session, signal, self.shared.stop_grace);
        Ok(session.info())
    }

    /// Stops a running session, waits for it to end, then removes it and its stored output.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let session = self.session(id)?;
        if session.status().is_running() {
            stop_session(&session, None, self.shared.stop_grace);
            let wait = self.shared.stop_grace + DELETE_WAIT_EXTRA;
            let mut tail = session.watch();
            let ended = tokio::time::timeout(wait, tail.wait_for(|t| !t.running)).await;
            if !matches!(ended, Ok(Ok(_))) {
                return Err(Error::conflict(
                    "the session did not end in time after SIGKILL; try again",
                ));
            }
        }
        self.shared.sessions().remove(&session.id);
        self.shared.store.delete(session.seq).await?;
        let _ = self.shared.events.send(Event::Deleted(session.id.clone()));
        Ok(())
    }

    /// Counts an attached client until the guard is dropped; at most `max` per session.
    pub fn attach(&self, id: &str, max: usize) -> Result<ClientGuard> {
        let session = self.session(id)?;
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        session
            .clients()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| {
                Error::new(
                    Code::LimitReached,
                    format!(
                        "{max} clients are attached to this session, the limit (--max-clients)"
                    ),
                )
            })?;
        self.shared.store.watching(session.seq);
        let _ = self.shared.events.send(Event::Updated(session.info()));
        Ok(ClientGuard {
            session,
            shared: self.shared.clone(),
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    pub fn health(&self) -> Health {
        self.shared.store.health()
    }

    /// Ends every running session (HUP, TERM, then KILL within a short grace), waits for their
    /// records, commits everything and closes the database.
    pub async fn shutdown(&self) {
        self.shared.closed.send_replace(true);
        let running: Vec<Arc<Session>> = self.shared.sessions().values().cloned().collect();
        let grace = self.shared.stop_grace.min(SHUTDOWN_GRACE);
        for session in running.iter().filter(|s| s.status().is_running()) {
            stop_session(session, None, grace);
        }
        let mut live = self.shared.live.subscribe();
        let all_ended = live.wait_for(|n| *n == 0);
        if tokio::time::timeout(grace + Duration::from_millis(500), all_ended)
            .await
            .is_err()
        {
            log::warn!("shutdown: some sessions did not end in time; they will show as lost");
        }
        let store = self.shared.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }

    /// Resolves once the manager has begun to shut down; background tasks stop then, so
    /// nothing keeps a shut-down manager (its store, its read connection) alive.
    pub(crate) async fn closed(&self) {
        let mut closed = self.shared.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }
}

/// Starts the planned process and its supervisor, records it and announces it.
async fn start(shared: &Arc<Shared>, id: SessionId, plan: Plan) -> Result<SessionInfo> {
    let (pty, child) = pty::spawn(&plan.spec).map_err(|e| plan.refusal(e))?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let info = SessionInfo {
        id: id.clone(),
        name: plan.name,
        status: Status::Running,
        command: plan.command,
        cwd: plan.cwd.to_string_lossy().into_owned(),
        user: plan.account.name,
        pid,
        cols: plan.spec.cols,
        rows: plan.spec.rows,
        created_at: Timestamp::now(),
        ended_at: None,
        exit_code: None,
        exit_signal: None,
        output_bytes: 0,
        history_start: 0,
        clients: 0,
        last_output_at: None,
        created_by: plan.created_by,
        seq: shared.next_seq.fetch_add(1, Ordering::Relaxed),
    };
    // The record is queued before any output, so the store never sees output of an unknown
    // session. If even that fails, the process must not run unsupervised.
    let progress = match shared.store.create(&info).await {
        Ok(p) => p,
        Err(e) => {
            if let Some(pid) = pid {
                pty::signal_session(Pid::from_raw(pid), Signal::SIGKILL, None, true);
            }
            return Err(e);
        }
    };
    let session = Session::started(info.clone(), pty, progress);
    shared.sessions().insert(id, session.clone());
    let child = Reaper::Spawned(child);
    tokio::spawn(crate::supervise::supervise(session, child, shared.clone()));
    log::info!(
        "session {} ({}) started as {} in {}, pid {}",
        info.id,
        info.name,
        info.user,
        info.cwd,
        pid.unwrap_or(0)
    );
    let _ = shared.events.send(Event::Created(info.clone()));
    Ok(info)
}

/// Signals a running session and arms the SIGKILL that follows after `grace`.
pub(crate) fn stop_session(session: &Arc<Session>, signal: Option<Signal>, grace: Duration) {
    let (Some(pid), true) = (session.pid(), session.status().is_running()) else {
        return;
    };
    let sid = Pid::from_raw(pid);
    session.stop_requested.store(true, Ordering::Relaxed);
    let pty = session.pty();
    let signals: &[Signal] = match &signal {
        Some(s) => std::slice::from_ref(s),
        None => &[Signal::SIGHUP, Signal::SIGTERM],
    };
    let leader_alive = || !session.reaped.load(Ordering::Acquire);
    for &s in signals {
        pty::signal_session(sid, s, pty.as_deref(), leader_alive());
    }
    drop(pty);
    let session = session.clone();
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        // Whatever is left of the session (the leader, or descendants that ignored the polite
        // signals) is killed now.
        let leader_alive = !session.reaped.load(Ordering::Acquire);
        pty::signal_session(sid, Signal::SIGKILL, session.pty().as_deref(), leader_alive);
    });
}

/// Keeps a session's `clients` count while a client is attached.
pub struct ClientGuard {
    session: Arc<Session>,
    shared: Arc<Shared>,
}

impl ClientGuard {
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.session.clients().fetch_sub(1, Ordering::Relaxed);
        self.session.touch();
        let _ = self.shared.events.send(Event::Updated(self.session.info()));
    }
}
