//! `GET /metrics`: the service's numbers in the Prometheus text format (version 0.0.4), for
//! people who scrape many boards: sessions by status, clients, output, the store, memory.
//! Behind the same credentials as the API; a scraper sends a token as `Authorization: Bearer`.

use std::fmt::Write;
use std::sync::Arc;

use hyper::StatusCode;

use super::Api;
use super::health::rss_bytes;
use super::respond::{self, Response};
use crate::model::record::Status;
use crate::store::Health;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const STATUSES: [Status; 5] = [
    Status::Running,
    Status::Stopped,
    Status::Completed,
    Status::Failed,
    Status::Lost,
];

pub fn metrics(api: &Arc<Api>) -> Response {
    let sessions = api.manager.list(None);
    let store = api.manager.health();
    let mut out = String::with_capacity(2048);
    let by_status: Vec<(String, u64)> = STATUSES
        .iter()
        .map(|st| {
            let n = sessions.iter().filter(|s| s.status == *st).count() as u64;
            (format!("{{status=\"{}\"}}", st.as_str()), n)
        })
        .collect();
    let by_status: Vec<(&str, u64)> = by_status.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    let help = "Sessions the service knows, by status.";
    family(&mut out, "sessions", "gauge", help, &by_status);
    let clients = sessions.iter().map(|s| u64::from(s.clients)).sum();
    let help = "Clients attached to sessions.";
    family(&mut out, "clients", "gauge", help, &[("", clients)]);
    for (name, help, value) in counters(&store) {
        family(&mut out, name, "counter", help, &[("", value)]);
    }
    let uptime = api.started.elapsed().as_secs();
    for (name, help, value) in gauges(&store, uptime) {
        family(&mut out, name, "gauge", help, &[("", value)]);
    }
    let version = format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    let help = "The running version.";
    family(
        &mut out,
        "build_info",
        "gauge",
        help,
        &[(version.as_str(), 1)],
    );
    respond::text(StatusCode::OK, CONTENT_TYPE, out)
}

/// One metric: its `# HELP` and `# TYPE` lines, then a line per sample (labels, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(
        out,
        "# HELP lanterm_{name} {help}\n# TYPE lanterm_{name} {kind}"
    );
    for (labels, value) in samples {
        let _ = writeln!(out, "lanterm_{name}{labels} {value}");
    }
}

/// The counters without labels: name, help, value.
fn counters(store: &Health) -> [(&'static str, &'static str, u64); 5] {
    [
        (
            "output_bytes_total",
            "Terminal output read from sessions since the service started.",
            store.output_bytes,
        ),
        (
            "store_committed_bytes_total",
            "Output bytes committed to the database since the service started.",
            store.committed_bytes,
        ),
        (
            "store_disk_write_bytes_total",
            "Bytes the store wrote to disk (database, WAL, checkpoints) since the service started.",
            store.disk_write_bytes,
        ),
        (
            "store_dropped_bytes_total",
            "Output bytes that never reached the database.",
            store.dropped_bytes,
        ),
        (
            "store_errors_total",
            "Failed database writes since the service started.",
            store.errors,
        ),
    ]
}

/// The gauges without labels: name, help, value.
fn gauges(store: &Health, uptime: u64) -> [(&'static str, &'static str, u64); 6] {
    [
        (
            "store_ok",
            "1 when the database takes writes, 0 when degraded.",
            u64::from(store.ok),
        ),
        (
            "store_output_bytes",
            "Stored output in the database, as stored (compressed).",
            store.stored_bytes,
        ),
        (
            "store_file_bytes",
            "Size of the database file and its write-ahead log.",
            store.size_bytes,
        ),
        (
            "store_pending_bytes",
            "Output waiting in memory for the next commit.",
            store.pending_bytes,
        ),
        (
            "resident_memory_bytes",
            "Resident memory of the service.",
            rss_bytes(),
        ),
        (
            "uptime_seconds",
            "Seconds since the service started.",
            uptime,
        ),
    ]
}
