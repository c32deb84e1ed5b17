//! The network API of docs/PROTOCOL.md on hyper: REST for sessions, a WebSocket to attach,
//! server-sent events, output downloads, health and Prometheus metrics. `server` accepts
//! connections within limits, `serving` runs it until told to stop; `router` sends each
//! request, past the [`Gate`], to the handler of its path; `login` holds the login endpoints;
//! `wire` is the WebSocket and event protocol as types.

mod assets;
pub(crate) mod attach;
mod body;
mod events;
mod files;
mod health;
mod login;
mod metrics;
mod output;
pub(crate) mod query;
mod respond;
mod router;
mod server;
mod serving;
mod sessions;
mod slots;
#[cfg(feature = "tls")]
mod tls;
mod unix;
pub mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use crate::auth::Gate;
use crate::config::Config;
use crate::engine::Manager;

pub use assets::embedded_bytes as ui_bytes;
pub use respond::Body;
pub use server::{Listeners, Open, Reloader, accept_until, bind, bind_inheriting};
pub use serving::Serving;

/// Limits the handlers enforce, from the configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body: u64,
    pub max_upload: u64,
    pub max_clients: usize,
    pub max_frame: u64,
    pub ack_window: u64,
    pub client_timeout: Duration,
    /// Connection slots: in all, per address, per IPv6 /64, reserved for logged-in clients.
    pub connections: slots::SlotLimits,
    pub max_head: u64,
    pub max_headers: usize,
    pub header_timeout: Duration,
}

/// Everything a request handler needs.
pub struct Api {
    pub manager: Manager,
    pub gate: Gate,
    pub limits: Limits,
    /// Permits for `/api/events` streams.
    streams: Arc<Semaphore>,
    started: Instant,
    /// Becomes `true` when the service is shutting down.
    shutdown: watch::Receiver<bool>,
}

impl Api {
    pub fn new(
        config: &Config,
        manager: Manager,
        gate: Gate,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Api> {
        Arc::new(Api {
            manager,
            gate,
            limits: Limits {
                max_body: config.max_body,
                max_upload: config.max_upload,
                max_clients: config.max_clients,
                max_frame: config.max_frame,
                ack_window: config.ack_window,
                client_timeout: config.client_timeout,
                connections: slots::SlotLimits {
                    total: config.max_connections,
                    per_address: config.max_connections_per_address,
                    per_net: config.max_connections_per_net,
                    reserved: config.reserved_connections(),
                },
                max_head: config.max_header_bytes,
                max_headers: config.max_headers,
                header_timeout: config.header_timeout,
            },
            streams: Arc::new(Semaphore::new(config.max_event_streams)),
            started: Instant::now(),
            shutdown,
        })
    }
}

pub use server::serve;

/// Resolves once the service is shutting down (the watch's guard is not held across awaits).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
