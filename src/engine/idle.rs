//! The idle watcher (`--idle-timeout`, off by default): stops a running session that has had
//! nobody attached and no output for that long (a client detaching counts as activity). Ends
//! when the engine shuts down.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::shared::Shared;
use crate::engine::signals;
use crate::model::clock::now_ms;

/// Runs until the engine shuts down, looking every quarter of `idle` (50 ms to 30 s).
pub(super) async fn watch(shared: Arc<Shared>, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let idle_ms = idle.as_millis() as u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = shared.closed() => return,
        }
        let now = now_ms();
        for s in shared.sessions() {
            let quiet = now.saturating_sub(s.last_activity_ms());
            if s.status().is_running()
                && s.clients() == 0
                && quiet >= idle_ms
                && !s.stop_requested()
            {
                log::info!(
                    "session {}: idle for {quiet} ms with nobody attached, stopping",
                    s.id
                );
                signals::stop(&s, None, shared.stop_grace());
            }
        }
    }
}
