//! The session record: the contract's session object, as the engine, the store and the API share it.

use serde::{Deserialize, Serialize};

use crate::model::clock::Timestamp;
use crate::model::id::SessionId;

/// Where a session is in its life. Serialized as the contract's lowercase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The process is alive.
    Running,
    /// Ended by a stop request (or by the service shutting down).
    Stopped,
    /// Exited with code 0.
    Completed,
    /// Exited non-zero, or killed by a signal nobody asked us to send.
    Failed,
    /// Was running when the service went away, and its process could not be recovered.
    Lost,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "running" => Status::Running,
            "stopped" => Status::Stopped,
            "completed" => Status::Completed,
            "failed" => Status::Failed,
            "lost" => Status::Lost,
            _ => return None,
        })
    }

    pub fn is_running(self) -> bool {
        self == Status::Running
    }
}

/// One session as clients see it. The engine keeps the live copy; the store keeps the rest.
/// Clients (`lanterm attach`, the tests) read it back with `Deserialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: SessionId,
    pub name: String,
    pub status: Status,
    /// `None`: the user's login shell.
    pub command: Option<String>,
    pub cwd: String,
    pub user: String,
    pub pid: Option<i32>,
    pub cols: u16,
    pub rows: u16,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    /// The signal that ended the process, by name without `SIG` (`"KILL"`), if one did.
    pub exit_signal: Option<String>,
    /// The session's output offset: bytes produced since it started.
    pub output_bytes: u64,
    /// The smallest output offset still retrievable.
    pub history_start: u64,
    /// WebSocket clients attached now.
    pub clients: u32,
    /// (addition) When the session last produced output, if it has since the service started.
    pub last_output_at: Option<Timestamp>,
    /// (addition) Who asked for the session: how they logged in and from where.
    pub created_by: Option<String>,
    /// The store's key for the session (not part of the contract).
    #[serde(skip)]
    pub seq: i64,
}
