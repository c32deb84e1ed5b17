//! Retention: ended sessions whose end is longer ago than `--retention` (default 30 days) are
//! deleted with their stored output, at start and then every hour, so a board nobody tends
//! does not fill its card with old transcripts. Running sessions are never touched.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::shared::Shared;
use crate::model::clock::Timestamp;

/// How often ended sessions are looked at (the first look is at start).
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Runs until the engine shuts down.
pub(super) async fn enforce(shared: Arc<Shared>, keep: Duration) {
    loop {
        tokio::select! {
            _ = sweep(&shared, keep) => {}
            () = shared.closed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(SWEEP_EVERY.min(keep)) => {}
            () = shared.closed() => return,
        }
    }
}

/// Deletes every session that ended more than `keep` ago; returns how many went.
pub(super) async fn sweep(shared: &Shared, keep: Duration) -> usize {
    let cutoff = Timestamp::now()
        .0
        .saturating_sub(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX));
    let expired: Vec<_> = shared
        .list(None)
        .into_iter()
        .filter(|s| !s.status.is_running() && s.ended_at.is_some_and(|t| t.0 < cutoff))
        .collect();
    let mut deleted = 0;
    for s in &expired {
        match shared.delete(s.id.as_str()).await {
            Ok(()) => deleted += 1,
            Err(e) => log::warn!("retention: cannot delete session {}: {}", s.id, e.message),
        }
    }
    if deleted > 0 {
        log::info!(
            "retention: deleted {deleted} session(s) that ended over {} ago (--retention)",
            crate::config::fmt_duration(keep)
        );
    }
    deleted
}
