//! The reading half of an attached client: binary input, the JSON control messages
//! (`wire::ClientMsg`: input, resize, ack, redraw) parsed strictly, pongs noted, and the close
//! code for a frame that breaks the protocol.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{Control, REDRAW_EVERY, Ws};
use crate::api::Api;
use crate::api::wire::ClientMsg;
use crate::engine::Session;
use crate::model::clock::now_ms;

/// The reading half: input (binary or JSON), resize, ack; pongs are noted.
pub(super) async fn read_client(
    api: Arc<Api>,
    session: Arc<Session>,
    mut stream: futures_util::stream::SplitStream<Ws>,
    read_only: bool,
    acks: watch::Sender<Option<u64>>,
    ctl: mpsc::Sender<Control>,
    last_pong: Arc<AtomicU64>,
) {
    let error = |code, message: String| ctl.try_send(Control::Error(code, message));
    let mut last_redraw: Option<std::time::Instant> = None;
    while let Some(msg) = stream.next().await {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => match close_for(&e) {
                // A broken frame: the client hears why, with the code RFC 6455 gives it.
                Some((code, reason)) => {
                    let _ = ctl.send(Control::Close(code, reason)).await;
                    return;
                }
                None => break,
            },
        };
        last_pong.store(now_ms(), Ordering::Relaxed);
        let result = match msg {
            Message::Binary(bytes) if !read_only => session.write_input(&bytes).await,
            Message::Text(text) => match ClientMsg::parse(text.as_str()) {
                Ok(ClientMsg::Input { data }) if !read_only => {
                    session.write_input(data.as_bytes()).await
                }
                Ok(ClientMsg::Resize { cols, rows }) if !read_only => api
                    .manager
                    .resize(session.id.as_str(), cols, rows)
                    .await
                    .map(drop),
                // Read-only viewers may ask too (it changes nothing), once a second at most.
                Ok(ClientMsg::Redraw)
                    if last_redraw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY) =>
                {
                    last_redraw = Some(std::time::Instant::now());
                    session.redraw()
                }
                Ok(ClientMsg::Ack { offset }) => {
                    acks.send_modify(|a| *a = Some(a.map_or(offset, |old| old.max(offset))));
                    Ok(())
                }
                Ok(_) => Ok(()), // read-only: input and resize are ignored
                Err(e) => {
                    let _ = error("bad_request", format!("unreadable message: {e}"));
                    Ok(())
                }
            },
            // Reading on sends tungstenite's answer to the close, then ends the stream.
            Message::Close(_) => Ok(()),
            _ => Ok(()),
        };
        if let Err(e) = result {
            let _ = error(e.code.as_str(), e.message);
        }
    }
    let _ = ctl.send(Control::Close(CloseCode::Normal, "bye")).await;
}

/// The close code for a frame the client should not have sent; `None` when the connection is
/// simply gone (or cannot take a close frame any more).
fn close_for(e: &WsError) -> Option<(CloseCode, &'static str)> {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            Some((CloseCode::Size, "message too big"))
        }
        WsError::Utf8(_) => Some((CloseCode::Invalid, "text is not UTF-8")),
        WsError::Protocol(p) if !matches!(p, ProtocolError::ResetWithoutClosingHandshake) => {
            Some((CloseCode::Protocol, "protocol violation"))
        }
        _ => None,
    }
}
