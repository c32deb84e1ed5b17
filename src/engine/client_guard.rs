//! One attached client, counted in its session's `clients` until the guard is dropped; its
//! going also resets the session's idle clock and is announced (`session.updated`).

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::engine::event::Event;
use crate::engine::session::Session;

/// Held by an attached client for as long as it is attached.
pub struct ClientGuard {
    session: Arc<Session>,
    events: broadcast::Sender<Event>,
}

impl ClientGuard {
    /// Counted already by the session (see `Session::count_client`).
    pub(super) fn new(session: Arc<Session>, events: broadcast::Sender<Event>) -> ClientGuard {
        ClientGuard { session, events }
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.session.client_left();
        let _ = self.events.send(Event::Updated(self.session.info()));
    }
}
