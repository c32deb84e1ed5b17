//! The protocol of the WebSocket (`/api/sessions/{id}/attach`) and of the event stream
//! (`/api/events`) as types: every text frame the server sends ([`ServerMsg`]), every text
//! frame a client sends ([`ClientMsg`]), every event ([`StreamEvent`]). The server writes
//! with them, `lanterm attach` reads with them, and tests may use them too; docs/PROTOCOL.md
//! (sections 5 and 6) is the contract they follow.
//!
//! The JSON goes through `serde_json::Value`, whose objects keep their keys sorted: the bytes on
//! the wire are the same as when the frames were written with `json!`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::engine::Event;
use crate::model::id::SessionId;
use crate::model::record::SessionInfo;

/// A text frame from the server. Output bytes travel as binary frames, not as these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMsg {
    /// The first frame: the output that follows starts at `offset`.
    Attached { session: SessionInfo, offset: u64 },
    /// Bytes `[from, to)` cannot be delivered; the stream goes on at `to`.
    Gap { from: u64, to: u64 },
    /// The terminal's size changed.
    Resized { cols: u16, rows: u16 },
    /// The process ended and every byte was sent; a close (1000) follows.
    Exit { session: SessionInfo },
    /// A problem: before a close when fatal, else the connection stays open.
    Error { code: String, message: String },
}

/// A text frame from a client. Input bytes may also come as binary frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMsg {
    /// Text to write to the terminal (its UTF-8 bytes).
    Input { data: String },
    /// Resize the terminal (checked to be 1..=1000 by the server).
    Resize { cols: i64, rows: i64 },
    /// The client has consumed the output up to `offset` (flow control).
    Ack { offset: u64 },
    /// (addition) Ask a full-screen program to repaint, after replaying history.
    Redraw,
}

/// An event of `/api/events`: its name is the `event:` line, its payload the `data:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Created(SessionInfo),
    Updated(SessionInfo),
    Exited(SessionInfo),
    Deleted(Deleted),
    /// (addition) This subscriber fell behind and missed `missed` events: re-list.
    Lagged(Lagged),
}

/// The payload of `session.deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub id: SessionId,
}

/// The payload of `lagged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lagged {
    pub missed: u64,
}

/// Writes a frame or a payload as compact JSON, keys sorted.
pub fn encode<T: Serialize>(value: &T) -> String {
    // Serializing these types cannot fail: no maps with non-string keys, no failing impls.
    serde_json::to_value(value)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// Reads JSON text as `T`; the message says what was wrong.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

impl ClientMsg {
    /// Reads a client's text frame as the server does: a JSON object with a `type` (serde would
    /// also take an array, the tag first and the fields in order, which is not the protocol).
    pub fn parse(text: &str) -> Result<ClientMsg, String> {
        if !text.trim_start().starts_with('{') {
            return Err("a message is a JSON object with a \"type\"".into());
        }
        decode(text)
    }
}

impl StreamEvent {
    /// The `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Created(_) => "session.created",
            StreamEvent::Updated(_) => "session.updated",
            StreamEvent::Exited(_) => "session.exited",
            StreamEvent::Deleted(_) => "session.deleted",
            StreamEvent::Lagged(_) => "lagged",
        }
    }

    /// The `data:` JSON.
    pub fn data(&self) -> String {
        match self {
            StreamEvent::Created(i) | StreamEvent::Updated(i) | StreamEvent::Exited(i) => encode(i),
            StreamEvent::Deleted(d) => encode(d),
            StreamEvent::Lagged(l) => encode(l),
        }
    }

    /// The event as the stream carries it: `event:` and `data:` lines and a blank line.
    pub fn to_sse(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.name(), self.data())
    }

    /// Reads an event from its `event:` name and `data:` JSON (`None` for a name this version
    /// does not know, which a client should skip).
    pub fn parse(name: &str, data: &str) -> Option<Result<StreamEvent, String>> {
        Some(match name {
            "session.created" => decode(data).map(StreamEvent::Created),
            "session.updated" => decode(data).map(StreamEvent::Updated),
            "session.exited" => decode(data).map(StreamEvent::Exited),
            "session.deleted" => decode(data).map(StreamEvent::Deleted),
            "lagged" => decode(data).map(StreamEvent::Lagged),
            _ => return None,
        })
    }
}

impl From<&Event> for StreamEvent {
    fn from(event: &Event) -> StreamEvent {
        match event {
            Event::Created(i) => StreamEvent::Created(i.clone()),
            Event::Updated(i) => StreamEvent::Updated(i.clone()),
            Event::Exited(i) => StreamEvent::Exited(i.clone()),
            Event::Deleted(id) => StreamEvent::Deleted(Deleted { id: id.clone() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::clock::Timestamp;
    use crate::model::record::Status;

    fn session() -> SessionInfo {
        SessionInfo {
            id: SessionId::parse("8fJ2kQ0s1c9wXy_Aa").unwrap(),
            name: "build".into(),
            status: Status::Failed,
            command: Some("make -j4".into()),
            cwd: "/home/pi/src".into(),
            user: "pi".into(),
            pid: Some(4242),
            cols: 120,
            rows: 40,
            created_at: Timestamp(1_795_342_530),
            ended_at: Some(Timestamp(1_795_342_590)),
            exit_code: Some(2),
            exit_signal: None,
            output_bytes: 183_402,
            history_start: 0,
            clients: 2,
            last_output_at: None,
            created_by: Some("bearer token from 127.0.0.1".into()),
            seq: 0,
        }
    }

    #[test]
    fn server_frames_are_the_bytes_json_wrote() {
        let s = session();
        let cases = [
            (
                ServerMsg::Attached {
                    session: s.clone(),
                    offset: 7,
                },
                json!({ "type": "attached", "session": s, "offset": 7 }),
            ),
            (
                ServerMsg::Gap { from: 5, to: 9 },
                json!({ "type": "gap", "from": 5, "to": 9 }),
            ),
            (
                ServerMsg::Resized { cols: 80, rows: 24 },
                json!({ "type": "resized", "cols": 80, "rows": 24 }),
            ),
            (
                ServerMsg::Exit { session: s.clone() },
                json!({ "type": "exit", "session": s }),
            ),
            (
                ServerMsg::Error {
                    code: "bad_request".into(),
                    message: "no".into(),
                },
                json!({ "type": "error", "code": "bad_request", "message": "no" }),
            ),
        ];
        for (msg, old) in cases {
            let text = encode(&msg);
            assert_eq!(text, old.to_string());
            assert_eq!(decode::<ServerMsg>(&text), Ok(msg));
        }
    }

    #[test]
    fn client_frames_round_trip_and_only_objects_are_read() {
        for msg in [
            ClientMsg::Input {
                data: "ls\r".into(),
            },
            ClientMsg::Resize {
                cols: 120,
                rows: 40,
            },
            ClientMsg::Ack { offset: 1_500_000 },
            ClientMsg::Redraw,
        ] {
            assert_eq!(ClientMsg::parse(&encode(&msg)), Ok(msg));
        }
        assert_eq!(
            encode(&ClientMsg::Resize { cols: 1, rows: 2 }),
            r#"{"cols":1,"rows":2,"type":"resize"}"#
        );
        assert!(ClientMsg::parse(r#"["resize", 1, 2]"#).is_err());
        assert!(ClientMsg::parse(r#"{"type":"paste"}"#).is_err());
    }

    #[test]
    fn events_are_the_bytes_json_wrote() {
        let s = session();
        let created = StreamEvent::from(&Event::Created(s.clone()));
        assert_eq!(
            created.to_sse(),
            format!("event: session.created\ndata: {}\n\n", json!(s))
        );
        let deleted = StreamEvent::from(&Event::Deleted(s.id.clone()));
        assert_eq!(deleted.data(), json!({ "id": s.id }).to_string());
        let lagged = StreamEvent::Lagged(Lagged { missed: 3 });
        assert_eq!(lagged.to_sse(), "event: lagged\ndata: {\"missed\":3}\n\n");
        for event in [created, deleted, lagged] {
            let back = StreamEvent::parse(event.name(), &event.data());
            assert_eq!(back, Some(Ok(event)));
        }
        assert_eq!(StreamEvent::parse("command.started", "{}"), None);
    }
}
