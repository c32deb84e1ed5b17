//! The API being served: the accept loops on the listening sockets, and the watch on password
//! changes, until told to stop. `serve` starts it, an upgrade stops it (and starts it again when
//! the exec fails).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Api, Listeners, Open, accept_until};

/// The API being served: accepting connections until [`Serving::stop`].
pub struct Serving {
    accepting: watch::Sender<bool>,
    task: JoinHandle<Open>,
}

impl Serving {
    /// Serves the API on `listeners` (and watches for password changes) until `stop` says
    /// `true` or [`Serving::stop`].
    pub fn start(api: &Arc<Api>, stop: &watch::Sender<bool>, listeners: Listeners) -> Serving {
        let watcher = api.clone();
        let mut stopping = stop.subscribe();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopping.wait_for(|s| *s).await;
            };
            watcher.gate.watch_password_changes(stop).await;
        });
        let (accepting, mut until) = watch::channel(true);
        let until = async move {
            let _ = until.wait_for(|a| !*a).await;
        };
        let task = tokio::spawn(accept_until(api.clone(), listeners, until));
        Serving { accepting, task }
    }

    /// Stops accepting first (so a client that reconnects at once is not accepted only to be
    /// closed), then tells the connections to stop with `stop` (WebSockets get 1001, event
    /// streams end) and gives them up to 1 s to finish.
    pub async fn stop(self, stop: &watch::Sender<bool>) {
        let _ = self.accepting.send(false);
        let open = self.task.await;
        let _ = stop.send(true);
        if let Ok(open) = open {
            open.drain().await;
        }
    }
}
