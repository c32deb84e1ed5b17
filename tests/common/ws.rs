//! The WebSocket side of the black-box tests: a client for `/api/sessions/{id}/attach` that
//! files everything it receives (output bytes in order, text frames as JSON, the close code),
//! with a deadline on every wait. It runs over plain TCP or any other stream (TLS).
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::common::TIMEOUT;

/// A byte stream a WebSocket runs over: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type WsStream = WebSocketStream<Box<dyn Io>>;

/// Opens a WebSocket to `path` on `addr`.
pub async fn ws_connect(addr: &str, path: &str) -> Result<WsStream, tungstenite::Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    ws_over(Box::new(tcp), &format!("ws://{addr}{path}")).await
}

/// Opens a WebSocket to `url` over a connected `stream`.
pub async fn ws_over(stream: Box<dyn Io>, url: &str) -> Result<WsStream, tungstenite::Error> {
    let (ws, _) = tokio_tungstenite::client_async(url, stream).await?;
    Ok(ws)
}

/// Opens a WebSocket to `path` on `addr` with extra request headers (`Origin`, `Cookie`...).
pub async fn ws_connect_with(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WsStream, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("ws://{addr}{path}").into_client_request()?;
    for (k, v) in headers {
        let name: tungstenite::http::HeaderName = k.parse().expect("header name");
        req.headers_mut()
            .insert(name, v.parse().expect("header value"));
    }
    let stream: Box<dyn Io> = Box::new(tcp);
    let (ws, _) = tokio_tungstenite::client_async(req, stream).await?;
    Ok(ws)
}

/// An attached WebSocket client that files everything it receives: output bytes in order,
/// text frames as JSON, and the close code if one came.
pub struct Client {
    ws: WsStream,
    /// The `attached` frame.
    pub attached: Value,
    pub bytes: Vec<u8>,
    pub texts: Vec<Value>,
    /// How many of `texts` [`Client::text`] has handed out.
    seen: usize,
    /// The close frame's code (`Some(1005)` for a close frame without one), and its reason.
    pub close: Option<u16>,
    pub close_reason: Option<String>,
    /// The connection has ended (with or without a close frame).
    pub ended: bool,
    /// The error that ended it, if one did.
    pub error: Option<String>,
}

impl Client {
    /// Attaches to a session (`query`: e.g. `from=0&mode=ro`, may be empty) and reads the
    /// `attached` frame.
    pub async fn attach(addr: &str, id: &str, query: &str) -> Client {
        Client::attach_with(addr, id, query, &[]).await
    }

    /// [`Client::attach`] with extra request headers (a bearer token, an `Origin`).
    pub async fn attach_with(
        addr: &str,
        id: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Client {
        let path = format!("/api/sessions/{id}/attach?{query}");
        let ws = ws_connect_with(addr, &path, headers)
            .await
            .unwrap_or_else(|e| panic!("attach {id}?{query}: {e}"));
        Client::attached(ws).await
    }

    /// A client on an attach WebSocket opened some other way; reads the `attached` frame.
    pub async fn attached(ws: WsStream) -> Client {
        let mut c = Client {
            ws,
            attached: Value::Null,
            bytes: Vec::new(),
            texts: Vec::new(),
            seen: 0,
            close: None,
            close_reason: None,
            ended: false,
            error: None,
        };
        match c.frame(TIMEOUT).await {
            Some(Message::Text(t)) => c.attached = serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("expected the attached frame first, got {other:?}"),
        }
        assert_eq!(c.attached["type"], "attached", "{}", c.attached);
        typed(&c.attached.to_string());
        c
    }

    /// The socket itself, for tests that read frames their own way.
    pub fn ws_mut(&mut self) -> &mut WsStream {
        &mut self.ws
    }

    pub fn offset(&self) -> u64 {
        self.attached["offset"].as_u64().expect("attached offset")
    }

    /// The next frame within `wait`, filed; `None` when none came (or the connection ended).
    pub async fn frame(&mut self, wait: Duration) -> Option<Message> {
        if self.ended {
            return None;
        }
        let msg = match tokio::time::timeout(wait, self.ws.next()).await {
            Err(_) => return None,
            Ok(None) => {
                self.ended = true;
                return None;
            }
            Ok(Some(Err(e))) => {
                self.ended = true;
                self.error = Some(e.to_string());
                return None;
            }
            Ok(Some(Ok(m))) => m,
        };
        match &msg {
            Message::Binary(b) => self.bytes.extend_from_slice(b),
            Message::Text(t) if !self.attached.is_null() => {
                typed(t.as_str());
                self.texts.push(
                    serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("{e}: {t:?}")),
                );
            }
            Message::Close(f) => {
                self.close = Some(f.as_ref().map_or(1005, |f| u16::from(f.code)));
                self.close_reason = f.as_ref().map(|f| f.reason.to_string());
                self.ended = true;
            }
            _ => {}
        }
        Some(msg)
    }

    /// Reads until `done` holds; fails if the connection ends first or after [`TIMEOUT`].
    pub async fn until(&mut self, done: impl Fn(&Client) -> bool) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while !done(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.frame(left).await.is_none() {
                let tail = &self.bytes[self.bytes.len().saturating_sub(200)..];
                panic!(
                    "gave up after {} bytes (ended: {}, error {:?}, close {:?}, texts {:?}) ending {:?}",
                    self.bytes.len(),
                    self.ended,
                    self.error,
                    self.close,
                    self.texts,
                    String::from_utf8_lossy(tail)
                );
            }
        }
    }

    pub async fn read_len(&mut self, n: usize) {
        self.until(|c| c.bytes.len() >= n).await;
    }

    pub async fn read_contains(&mut self, needle: &str) {
        self.until(|c| crate::common::contains(&c.bytes, needle))
            .await;
    }

    /// The next text frame of type `ty` not handed out yet (reading on as needed).
    pub async fn text(&mut self, ty: &str) -> Value {
        loop {
            if let Some(i) = self.texts[self.seen..].iter().position(|t| t["type"] == ty) {
                self.seen += i + 1;
                return self.texts[self.seen - 1].clone();
            }
            let n = self.texts.len();
            self.until(|c| c.texts.len() > n).await;
        }
    }

    /// Reads until the connection ends; the close code (`None`: ended without a close frame).
    pub async fn closed(&mut self) -> Option<u16> {
        self.closed_within(TIMEOUT).await
    }

    /// [`Client::closed`] waiting at most `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        while !self.ended {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "connection still open after {wait:?}");
            self.frame(left).await;
        }
        self.close
    }

    /// `true` when no frame arrives for `quiet` (one that does is filed).
    pub async fn quiet(&mut self, quiet: Duration) -> bool {
        self.frame(quiet).await.is_none() && !self.ended
    }

    pub async fn send_json(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send a text frame");
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send a binary frame");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send a text frame");
    }
}

/// Every text frame the real server sends must be one of the protocol's types
/// (`lanterm::api::wire::ServerMsg`, the one the server and `lanterm attach` use): a frame the
/// compiler-checked protocol does not describe fails the test that received it.
fn typed(text: &str) -> lanterm::api::wire::ServerMsg {
    lanterm::api::wire::decode(text)
        .unwrap_or_else(|e| panic!("a frame outside the wire protocol ({e}): {text}"))
}
