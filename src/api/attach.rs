//! `GET /api/sessions/{id}/attach`: the WebSocket that shows a terminal and types into it.
//!
//! One task reads the client (input, resize, ack, pongs); the other sends output at the
//! client's own offset: from the ring, then the store, `gap` where bytes are gone, live at the
//! end. At most one frame is in flight per client and a frame that the socket does not take
//! within `--client-timeout` closes the client (1008), so a client that stops reading costs one
//! frame of memory and never slows the session or other clients. With acks, the server stays
//! within `--ack-window` of the latest one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::Request;
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use super::Api;
use super::query::Query;
use super::respond::Response;
use super::wire::{self, ServerMsg};
use crate::auth::Caller;
use crate::engine::ClientGuard;
use crate::engine::RING_CAPACITY;
use crate::engine::{Chunk, Session};
use crate::model::clock::now_ms;
use crate::model::error::Error;
use crate::store::Store;

mod handshake;
mod reader;

use reader::read_client;

/// Output bytes per binary frame at most.
const FRAME: usize = 64 * 1024;
const PING_EVERY: Duration = Duration::from_secs(30);
const PONG_DEADLINE_MS: u64 = 60_000;
/// A client's redraw requests are honoured at most this often.
const REDRAW_EVERY: Duration = Duration::from_secs(1);

type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// What the reading half asks the sending half to do.
enum Control {
    Error(&'static str, String),
    Close(CloseCode, &'static str),
}

/// Checks the handshake, answers 101 and starts the client's tasks once the upgrade is done.
pub fn upgrade(
    api: &Arc<Api>,
    id: &str,
    mut req: Request<Incoming>,
    caller: Caller,
) -> Result<Response, Error> {
    let session = api.manager.session(id)?;
    let q = Query::parse(req.uri().query());
    let read_only = q.one_of("mode", &["rw", "ro"], "rw")? == "ro";
    let info = session.info();
    let from = match q.offset("from")? {
        // Beyond what the service has (it stopped before storing output a client was shown):
        // the stream starts at the end, and `attached` says so.
        Some(from) => from.min(info.output_bytes),
        // No offset: what memory holds (the last screenfuls), or as much of it from the store.
        None => info
            .output_bytes
            .saturating_sub(RING_CAPACITY as u64)
            .max(info.history_start),
    };
    let accept = match handshake::check(&req) {
        Ok(accept) => accept,
        Err(refusal) => return Ok(*refusal),
    };
    let guard = api.manager.attach(id, api.limits.max_clients)?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let api = api.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let config = ws_config(api.limits.max_frame);
                let ws =
                    Ws::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                run(api, ws, guard, from, read_only, caller).await;
            }
            Err(e) => log::debug!("attach: upgrade failed: {e}"),
        }
    });
    Ok(handshake::switching(&accept))
}

/// The WebSocket settings of an attached client: messages from it of at most `max_frame` bytes.
pub(crate) fn ws_config(max_frame: u64) -> WebSocketConfig {
    let max = usize::try_from(max_frame).unwrap_or(usize::MAX);
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(FRAME * 2 + 4096)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

async fn run(
    api: Arc<Api>,
    ws: Ws,
    guard: ClientGuard,
    from: u64,
    read_only: bool,
    caller: Caller,
) {
    let session = guard.session().clone();
    let (sink, stream) = ws.split();
    let (ack_tx, ack_rx) = watch::channel(None::<u64>);
    let (ctl_tx, ctl_rx) = mpsc::channel(4);
    let last_pong = Arc::new(AtomicU64::new(now_ms()));
    let reader = tokio::spawn(read_client(
        api.clone(),
        session.clone(),
        stream,
        read_only,
        ack_tx,
        ctl_tx.clone(),
        last_pong.clone(),
    ));
    // The end of the login it was opened with (expiry, logout, a new password, pushed out by
    // newer logins) closes the connection with 1008 and says which.
    let login = api.clone();
    let watcher = tokio::spawn(async move {
        let end = login.gate.until_login_ends(&caller).await;
        let _ = ctl_tx
            .send(Control::Close(CloseCode::Policy, end.reason()))
            .await;
    });
    let mut sender = Sender {
        sink,
        timeout: api.limits.client_timeout,
    };
    send_output(&api, &session, &mut sender, from, ack_rx, ctl_rx, last_pong).await;
    reader.abort();
    watcher.abort();
    drop(guard);
}

struct Sender {
    sink: futures_util::stream::SplitSink<Ws, Message>,
    timeout: Duration,
}

impl Sender {
    /// Sends one message; `false` when the client is gone or too slow to take it.
    async fn send(&mut self, msg: Message) -> bool {
        match tokio::time::timeout(self.timeout, self.sink.send(msg)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                log::info!(
                    "attach: a client took over {:?} to take a frame; closing it",
                    self.timeout
                );
                self.close(CloseCode::Policy, "too slow").await;
                false
            }
        }
    }

    /// Sends one text frame of the protocol.
    async fn frame(&mut self, msg: &ServerMsg) -> bool {
        self.send(Message::text(wire::encode(msg))).await
    }

    /// Best effort: a close frame, given a second to go out.
    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

/// The sending half: `attached`, then output from `offset` within the ack window, `resized`,
/// `exit` and close; pings every 30 s.
async fn send_output(
    api: &Arc<Api>,
    session: &Arc<Session>,
    out: &mut Sender,
    mut offset: u64,
    mut acks: watch::Receiver<Option<u64>>,
    mut ctl: mpsc::Receiver<Control>,
    last_pong: Arc<AtomicU64>,
) {
    let store = api.manager.store().clone();
    let window = api.limits.ack_window;
    let mut tail = session.watch();
    let mut shutdown = api.shutdown.clone();
    let first = *tail.borrow();
    let mut size = (first.cols, first.rows);
    let attached = ServerMsg::Attached {
        session: session.info(),
        offset,
    };
    if !out.frame(&attached).await {
        return;
    }
    let mut next_ping = Instant::now() + PING_EVERY;
    loop {
        let Some(deadline) = keep_alive(out, &last_pong, &mut next_ping).await else {
            return;
        };
        // What the reader asked for goes first, also while output is streaming.
        match ctl.try_recv() {
            Ok(c) => {
                if !control(out, c).await {
                    return;
                }
                continue;
            }
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        // Wait (cancel-safely) until there is something to do.
        let t = *tail.borrow_and_update();
        let ack = *acks.borrow_and_update();
        let window_open = ack.is_none_or(|a| offset < a.saturating_add(window));
        let has_output = offset < t.end || !t.running;
        if (t.cols, t.rows) != size {
            size = (t.cols, t.rows);
            let (cols, rows) = size;
            if !out.frame(&ServerMsg::Resized { cols, rows }).await {
                return;
            }
            continue;
        }
        if !(window_open && has_output) {
            tokio::select! {
                // The reader's last word (a close with its code) comes before noticing that
                // the reader is gone (its ack sender dropped).
                biased;
                c = ctl.recv() => match c {
                    Some(c) => if !control(out, c).await { return },
                    None => return,
                },
                r = tail.changed() => if r.is_err() { return },
                r = acks.changed() => if r.is_err() { return },
                () = tokio::time::sleep_until(next_ping.min(deadline)) => {}
                () = super::stopping(&mut shutdown) => return out.close(CloseCode::Away, "server shutting down").await,
            }
            continue;
        }
        let limit = ack.map_or(FRAME as u64, |a| a.saturating_add(window) - offset);
        let max = FRAME.min(usize::try_from(limit).unwrap_or(FRAME));
        if !send_chunk(session, &store, out, &mut offset, max).await {
            return;
        }
    }
}

/// Pings every 30 s, also while output streams, and closes a client silent for 60 s (no pong,
/// no message of any kind). Returns when the client must have been heard from by, or `None`
/// when the connection is done.
async fn keep_alive(
    out: &mut Sender,
    last_pong: &AtomicU64,
    next_ping: &mut Instant,
) -> Option<Instant> {
    let silent_since = last_pong.load(Ordering::Relaxed);
    let deadline = Instant::now()
        + Duration::from_millis(
            PONG_DEADLINE_MS.saturating_sub(now_ms().saturating_sub(silent_since)),
        );
    if deadline <= Instant::now() {
        out.close(CloseCode::Policy, "no pong").await;
        return None;
    }
    if *next_ping <= Instant::now() {
        *next_ping += PING_EVERY;
        if !out.send(Message::Ping(Default::default())).await {
            return None;
        }
    }
    Some(deadline)
}

/// Reads at most `max` bytes at `offset` and sends them, or the `gap` where they are gone, or
/// `exit` and the close at the end of an ended session; `offset` moves past what was sent.
/// `false` when the connection is done.
async fn send_chunk(
    session: &Session,
    store: &Store,
    out: &mut Sender,
    offset: &mut u64,
    max: usize,
) -> bool {
    let chunk = match session.read_at(store, *offset, max).await {
        Ok(chunk) => chunk,
        Err(e) => {
            let error = ServerMsg::Error {
                code: e.code.as_str().into(),
                message: e.message,
            };
            let _ = out.frame(&error).await;
            out.close(CloseCode::Error, "internal error").await;
            return false;
        }
    };
    match chunk {
        Chunk::Data(bytes) => {
            *offset += bytes.len() as u64;
            out.send(Message::binary(bytes)).await
        }
        Chunk::Gap { from, to } => {
            *offset = to;
            out.frame(&ServerMsg::Gap { from, to }).await
        }
        Chunk::Wait => true,
        Chunk::End => {
            let exit = ServerMsg::Exit {
                session: session.info(),
            };
            let _ = out.frame(&exit).await;
            out.close(CloseCode::Normal, "session ended").await;
            false
        }
    }
}

/// Carries out a request of the reading half; `false` when the connection is done.
async fn control(out: &mut Sender, c: Control) -> bool {
    match c {
        Control::Error(code, message) => {
            let error = ServerMsg::Error {
                code: code.into(),
                message,
            };
            out.frame(&error).await
        }
        Control::Close(code, reason) => {
            out.close(code, reason).await;
            false
        }
    }
}
