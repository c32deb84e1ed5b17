//! Change events: what the engine broadcasts when a session is created, changes, ends or goes.

use crate::model::id::SessionId;
use crate::model::record::SessionInfo;

/// One change, as the API's `/api/events` stream names them.
#[derive(Debug, Clone)]
pub enum Event {
    Created(SessionInfo),
    Updated(SessionInfo),
    Exited(SessionInfo),
    Deleted(SessionId),
}

impl Event {
    /// The event name of the contract (`session.created`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Event::Created(_) => "session.created",
            Event::Updated(_) => "session.updated",
            Event::Exited(_) => "session.exited",
            Event::Deleted(_) => "session.deleted",
        }
    }

    pub fn id(&self) -> &SessionId {
        match self {
            Event::Created(i) | Event::Updated(i) | Event::Exited(i) => &i.id,
            Event::Deleted(id) => id,
        }
    }
}
