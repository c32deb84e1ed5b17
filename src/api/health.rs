//! `GET /api/health`: `ok` or `degraded` for anyone; details for those with credentials.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use super::Api;
use super::respond::{self, Response};

/// Resident memory of this process, from `/proc/self/statm` (pages × page size).
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    pages * page
}

pub fn health(api: &Arc<Api>, authed: bool) -> Response {
    let store = api.manager.health();
    let (status, code) = if store.ok && store.damaged.is_none() {
        ("ok", StatusCode::OK)
    } else {
        ("degraded", StatusCode::SERVICE_UNAVAILABLE)
    };
    if !authed {
        return respond::json(code, &json!({ "status": status }));
    }
    let sessions = api.manager.list(None);
    let mut by_status: BTreeMap<&str, u64> = ["running", "stopped", "completed", "failed", "lost"]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for s in &sessions {
        *by_status.entry(s.status.as_str()).or_default() += 1;
    }
    let clients: u64 = sessions.iter().map(|s| u64::from(s.clients)).sum();
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": api.started.elapsed().as_secs(),
        "sessions": by_status,
        "clients": clients,
        "memory": { "rss_bytes": rss_bytes() },
        "database": {
            "ok": store.ok,
            "path": store.path,
            "size_bytes": store.size_bytes,
            "pending_bytes": store.pending_bytes,
            "dropped_bytes": store.dropped_bytes,
            "error": store.last_error,
            "damaged": store.damaged,
        },
    });
    respond::json(code, &body)
}
