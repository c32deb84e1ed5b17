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
    /// Counts an attached client of `session` until the guard is dropped, if fewer than `max`
    /// are; the guard announces its going on `events`.
    pub(super) fn count(
        session: &Arc<Session>,
        max: u32,
        events: broadcast::Sender<Event>,
    ) -> Option<ClientGuard> {
        session.client_came(max).then(|| ClientGuard {
            session: session.clone(),
            events,
        })
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
