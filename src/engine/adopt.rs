//! The engine's side of an upgrade: holding every running session still so it can be handed
//! over ([`freeze`]), letting it go on if the exec fails (dropping [`Frozen`]), and, in the new
//! program, taking the handed-over sessions back ([`adopt`]). The `Manager` methods of the same
//! names are the way in; the upgrade itself (`crate::upgrade`) calls only those.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::sync::broadcast::error::RecvError;

use crate::engine::hold::Still;
use crate::engine::pty::Pty;
use crate::engine::reaper::Reaper;
use crate::engine::session::Session;
use crate::engine::session_signal;
use crate::engine::shared::Shared;
use crate::engine::signals;
use crate::engine::supervise::supervise;
use crate::model::clock::Timestamp;
use crate::model::record::{SessionInfo, Status};

/// Longest wait for every supervisor to hold still (a store stalled for its 1 s limit, an
/// ended session's 500 ms drain, and its record).
const HOLD_LIMIT: Duration = Duration::from_secs(5);

/// A running session held still for the handover.
pub struct FrozenSession {
    pub info: SessionInfo,
    pub stopping: bool,
    pub pty: Arc<Pty>,
}

/// Every running session held still, its output all in the store. No session starts
/// meanwhile. Dropping this lets them all go on.
pub struct Frozen {
    _still: Still,
    pub sessions: Vec<FrozenSession>,
}

/// A session as the previous program handed it over, with its PTY master if it was inherited.
pub struct HandedSession {
    pub seq: i64,
    pub id: String,
    pub pid: i32,
    /// The output offset where the previous program stopped reading.
    pub end: u64,
    /// A stop had been asked for.
    pub stopping: bool,
    pub last_output_at: Option<i64>,
    pub master: Option<OwnedFd>,
}

/// Waits (at most `limit`) until no client is attached to any session: once the API has
/// stopped, each WebSocket's task sends its close frame (1001) and lets go. `false` if some
/// are still attached.
pub(super) async fn clients_gone(shared: &Shared, limit: Duration) -> bool {
    let mut events = shared.subscribe();
    let attached = || -> u32 { shared.sessions().iter().map(|s| s.clients()).sum() };
    let gone = async {
        while attached() > 0 {
            if let Err(RecvError::Closed) = events.recv().await {
                return;
            }
        }
    };
    tokio::time::timeout(limit, gone).await.is_ok()
}

/// Holds every running session still for an upgrade: sessions being started are waited for
/// and no new one starts; each supervisor hands what it has read to the store and stops
/// reading (the processes run on; their output waits in the kernel); sessions whose process
/// has already exited are recorded as ended; then everything is committed. Fails (and lets
/// everything go on) if that takes over [`HOLD_LIMIT`] or the store cannot write.
pub(super) async fn freeze(shared: &Shared) -> Result<Frozen, String> {
    let mut frozen = Frozen {
        _still: shared.hold().ask().await,
        sessions: Vec::new(),
    };
    let mut at_work = shared.slots().supervisors();
    let mut held = shared.hold().held();
    let all_held = async {
        while *at_work.borrow_and_update() != *held.borrow_and_update() {
            tokio::select! {
                r = at_work.changed() => if r.is_err() { return },
                r = held.changed() => if r.is_err() { return },
            }
        }
    };
    if tokio::time::timeout(HOLD_LIMIT, all_held).await.is_err() {
        return Err(format!(
            "the sessions did not hold still within {HOLD_LIMIT:?}"
        ));
    }
    let store = shared.store();
    store
        .flush()
        .await
        .map_err(|e| format!("committing the output: {}", e.message))?;
    let health = store.health();
    if !health.ok {
        return Err(format!(
            "the database cannot be written ({}): output not stored yet would be lost",
            health.last_error.unwrap_or_default()
        ));
    }
    for session in shared.sessions() {
        let (Some(pty), true) = (session.pty(), session.status().is_running()) else {
            continue;
        };
        let info = session.info();
        let stored = session.progress().stored_end();
        if stored < info.output_bytes {
            return Err(format!(
                "session {}: output up to {} is read but only {stored} is stored",
                info.id, info.output_bytes
            ));
        }
        frozen.sessions.push(FrozenSession {
            stopping: session.stop_requested(),
            info,
            pty,
        });
    }
    Ok(frozen)
}

/// Takes over the sessions an upgrade handed over: each goes on running, with its output
/// continuing at the offset where the previous program stopped reading. One that cannot be
/// taken over stays `lost` (as the store marked it at start) and its process is ended.
/// Returns how many were taken over.
pub(super) async fn adopt(shared: &Arc<Shared>, handed: Vec<HandedSession>) -> usize {
    let mut adopted = 0;
    for h in handed {
        let (id, pid) = (h.id.clone(), h.pid);
        match adopt_one(shared, h).await {
            Ok(()) => adopted += 1,
            Err(e) => log::warn!(
                "upgrade: session {id} (pid {pid}) not taken over: {e}; it shows as lost"
            ),
        }
    }
    adopted
}

async fn adopt_one(shared: &Arc<Shared>, h: HandedSession) -> Result<(), String> {
    let reaper = Reaper::adopt(h.pid)
        .map_err(|e| format!("its process is not a child of this one ({e})"))?;
    let grace = shared.stop_grace();
    let loaded = shared
        .sessions()
        .into_iter()
        .find(|s| s.seq == h.seq && s.id.as_str() == h.id);
    let Some(loaded) = loaded else {
        end_orphan(h.pid, reaper, grace);
        return Err("the database does not know it".into());
    };
    let pty = match h.master.map(Pty::adopt) {
        Some(Ok(pty)) => pty,
        Some(Err(e)) => {
            end_orphan(h.pid, reaper, grace);
            return Err(format!("its terminal cannot be used: {e}"));
        }
        None => {
            end_orphan(h.pid, reaper, grace);
            return Err("its terminal was not inherited".into());
        }
    };
    let stored = loaded.progress().stored_end();
    if stored != h.end {
        log::warn!(
            "upgrade: session {}: the store ends at {stored}, the handover at {}",
            h.id,
            h.end
        );
    }
    let mut info = loaded.info();
    info.status = Status::Running;
    info.pid = Some(h.pid);
    info.ended_at = None;
    info.exit_code = None;
    info.exit_signal = None;
    info.output_bytes = h.end.max(stored);
    let last_output = h.last_output_at.map(Timestamp);
    let session = Session::adopted(info, pty, loaded.progress().clone(), last_output);
    let counted = shared.slots().force();
    shared.insert(session.clone());
    // The store marked it lost when it opened; it is running again.
    if let Err(e) = shared.store().update(&session.info()).await {
        log::warn!("upgrade: session {}: record not stored: {e}", h.id);
    }
    if h.stopping {
        // Its stop was asked for before the upgrade: TERM again, SIGKILL after the grace.
        signals::stop(&session, Some(Signal::SIGTERM), grace);
    }
    tokio::spawn(supervise(session, reaper, shared.clone(), counted));
    Ok(())
}

/// Ends the process of a session that could not be taken over (as closing its terminal would:
/// HUP, then TERM, KILL after the grace period) and reaps it.
fn end_orphan(pid: i32, mut reaper: Reaper, grace: Duration) {
    let sid = Pid::from_raw(pid);
    // Once reaped, the pid may name someone else's group: only `/proc` is trusted then.
    let alive = !reaper.has_exited();
    for s in [Signal::SIGHUP, Signal::SIGTERM] {
        session_signal::signal_session(sid, s, None, alive);
    }
    tokio::spawn(async move {
        if tokio::time::timeout(grace, reaper.wait()).await.is_err() {
            session_signal::signal_session(sid, Signal::SIGKILL, None, !reaper.has_exited());
            let _ = reaper.wait().await;
        }
    });
}
