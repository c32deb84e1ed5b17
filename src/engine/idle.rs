//! The idle watcher (`--idle-timeout`, off by default): stops a running session that has had
//! nobody attached and no output for that long. Ends with its manager.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::engine::manager::Manager;
use crate::engine::session::Session;
use crate::engine::signals;
use crate::model::clock::now_ms;

/// Runs until the manager shuts down, looking every quarter of `idle` (50 ms to 30 s).
pub(crate) async fn watch(manager: Manager, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let idle_ms = idle.as_millis() as u64;
    let shared = &manager.shared;
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = manager.closed() => return,
        }
        let sessions: Vec<Arc<Session>> = shared.sessions().values().cloned().collect();
        let now = now_ms();
        for s in sessions {
            let quiet = now.saturating_sub(s.last_activity_ms());
            if s.status().is_running()
                && s.clients().load(Ordering::Relaxed) == 0
                && quiet >= idle_ms
                && !s.stop_requested.load(Ordering::Relaxed)
            {
                log::info!(
                    "session {}: idle for {quiet} ms with nobody attached, stopping",
                    s.id
                );
                signals::stop(&s, None, shared.stop_grace);
            }
        }
    }
}
