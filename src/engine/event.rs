//! Change events: what the engine broadcasts when a session is created, changes, ends or goes.

use crate::model::id::SessionId;
use crate::model::record::SessionInfo;

/// One change. The API sends each as an event of `/api/events` (`api::wire::StreamEvent`).
#[derive(Debug, Clone)]
pub enum Event {
    Created(SessionInfo),
    Updated(SessionInfo),
    Exited(SessionInfo),
    Deleted(SessionId),
}

impl Event {
    pub fn id(&self) -> &SessionId {
        match self {
            Event::Created(i) | Event::Updated(i) | Event::Exited(i) => &i.id,
            Event::Deleted(id) => id,
        }
    }
}
