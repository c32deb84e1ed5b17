//! The supervise task, one per running session: pumps the PTY's output into the session until
//! the process has exited and its output is drained, then records how it ended. For an upgrade
//! it can hold still (see `hold.rs` and `adopt.rs`): its output handed to the store, reading
//! paused, the process untouched, until the new program takes over or the old one carries on.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::event::Event;
use crate::engine::pty::Pty;
use crate::engine::reaper::Reaper;
use crate::engine::session::Session;
use crate::engine::shared::Shared;
use crate::engine::signals::signal_name;
use crate::engine::slots::{Slot, Supervising};
use crate::model::clock::Timestamp;
use crate::model::record::Status;

/// Size of one read from the PTY.
const READ_CHUNK: usize = 16 * 1024;
/// Longest the output of a session waits for room in the store's queue before it goes on
/// without it (a disk that stalls must not freeze terminals).
const STORE_STALL: Duration = Duration::from_secs(1);
/// After the process exits, output still buffered in the PTY is read for at most this long
/// (background jobs may keep the terminal open; they get SIGHUP when it closes).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// When the drain after exit is over, what the kernel still holds is read without waiting, up
/// to this much: bytes written before the deadline are never lost to a late wake-up (a busy or
/// paused service), and a background job that keeps writing cannot hold the session open.
const LAST_LOOK_MAX: usize = 16 * READ_CHUNK;

/// Status, exit code and signal of a finished process.
fn outcome(status: ExitStatus, stop_requested: bool) -> (Status, Option<i32>, Option<String>) {
    let code = status.code();
    let signal = status.signal().map(signal_name);
    let st = if stop_requested {
        Status::Stopped
    } else if code == Some(0) {
        Status::Completed
    } else {
        Status::Failed
    };
    (st, code, signal)
}

/// Resolves when an upgrade asks the supervisors to hold still.
async fn hold_requested(freeze: &mut watch::Receiver<bool>) {
    if freeze.wait_for(|f| *f).await.is_err() {
        std::future::pending::<()>().await; // the manager is gone: never
    }
}

/// Holds still for an upgrade: every byte read so far is handed to the store's queue, then
/// nothing is read until the hold ends (the exec failed) or the program is replaced.
async fn hold(session: &Session, shared: &Shared, freeze: &mut watch::Receiver<bool>) {
    session.drain_to_store(shared.store()).await;
    let _holding = shared.hold().holding();
    let _ = freeze.wait_for(|f| !*f).await;
}

/// Passes output read from the PTY on: into the session, and into the store's queue at the
/// pace the store takes it (waiting at most [`STORE_STALL`] for room).
async fn pass_on(session: &Session, shared: &Shared, data: &[u8]) {
    let store = shared.store();
    if !session.push_output(data, store) && !session.wait_for_store(store, STORE_STALL).await {
        log::warn!(
            "session {}: the store took no output for {STORE_STALL:?}; \
             going on without it (stored history will have a hole)",
            session.id
        );
    }
}

/// Reads what the terminal holds right now, without waiting, up to [`LAST_LOOK_MAX`]. The
/// deadline and the terminal's readiness can come due in the same wake-up, and `select!` then
/// picks either: without this, output already written could be dropped.
async fn last_look(pty: &Pty, session: &Session, shared: &Shared, buf: &mut [u8]) {
    let mut taken = 0;
    while taken < LAST_LOOK_MAX {
        match pty.read_now(buf) {
            Ok(Some(0) | None) => return,
            Ok(Some(n)) => {
                pass_on(session, shared, &buf[..n]).await;
                taken += n;
            }
            Err(e) => {
                log::warn!("session {}: reading the terminal failed: {e}", session.id);
                return;
            }
        }
    }
}

/// Follows a running session until it ends and is recorded. `counted` is its slot (given back
/// as the session shows as ended) and this task's count among those at work (given back when
/// it returns).
pub(super) async fn supervise(
    session: Arc<Session>,
    mut child: Reaper,
    shared: Arc<Shared>,
    counted: (Slot, Supervising),
) {
    let Some(pty) = session.pty() else {
        return;
    };
    let mut freeze = shared.hold().asked();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut exited: Option<std::io::Result<ExitStatus>> = None;
    let mut drain_until: Option<Instant> = None;
    // The terminal is closed (no process holds its slave side) or draining is over.
    let mut eof = false;
    while !(eof && exited.is_some()) {
        tokio::select! {
            read = pty.read(&mut buf), if !eof => match read {
                Ok(0) => eof = true,
                Ok(n) => pass_on(&session, &shared, &buf[..n]).await,
                Err(e) => {
                    log::warn!("session {}: reading the terminal failed: {e}", session.id);
                    eof = true;
                }
            },
            status = child.wait(), if exited.is_none() => {
                session.mark_reaped();
                exited = Some(status);
                drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = tokio::time::sleep_until(drain_until.unwrap_or_else(Instant::now)),
                if drain_until.is_some() && !eof =>
            {
                last_look(&pty, &session, &shared, &mut buf).await;
                eof = true;
            }
            // A process already reaped cannot be handed over: its supervisor finishes instead,
            // and the upgrade waits for that.
            () = hold_requested(&mut freeze), if exited.is_none() => {
                hold(&session, &shared, &mut freeze).await;
            }
        }
    }
    drop(pty);
    let status = exited.unwrap_or_else(|| Err(std::io::Error::other("no exit status")));
    record_end(&session, &shared, status, counted.0).await;
}

/// Records how the session ended: its last output to the store, its final record (the slot is
/// given back the moment it shows as ended), the `exited` event; then the ring goes once the
/// store holds everything.
async fn record_end(
    session: &Session,
    shared: &Shared,
    status: std::io::Result<ExitStatus>,
    slot: Slot,
) {
    let (st, code, signal) = match status {
        Ok(status) => outcome(status, session.stop_requested()),
        Err(e) => {
            log::error!(
                "session {}: waiting for the process failed: {e}",
                session.id
            );
            (Status::Lost, None, None)
        }
    };
    let store = shared.store();
    session.drain_to_store(store).await;
    let info = session.finish(|i| {
        i.status = st;
        i.ended_at = Some(Timestamp::now());
        i.exit_code = code;
        i.exit_signal = signal;
    });
    drop(slot);
    log::info!(
        "session {} ({}) ended: {}{}",
        info.id,
        info.name,
        st.as_str(),
        match (&info.exit_code, &info.exit_signal) {
            (Some(c), _) => format!(", exit code {c}"),
            (None, Some(s)) => format!(", signal {s}"),
            _ => String::new(),
        }
    );
    if let Err(e) = store.update(&info).await {
        log::warn!("session {}: final record not stored: {e}", info.id);
    }
    shared.announce(Event::Exited(info));
    if store.flush().await.is_ok() {
        session.release_ring_if_stored();
    }
}
