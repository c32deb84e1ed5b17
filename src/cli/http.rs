//! One JSON request to the service over HTTP/1.1 (hyper's client on a fresh connection).

use hyper::Request;
use hyper::body::{Body as _, Bytes};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::Target;
use crate::api::Body;

/// Largest answer read (a list of many sessions fits easily).
const MAX_ANSWER: usize = 16 << 20;

/// Sends `method path` with an optional JSON body; returns the JSON answer, or the error the
/// service gave as one line.
pub async fn call(
    t: &Target,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let unreachable =
        |e: &dyn std::fmt::Display| format!("lanterm: cannot reach {}: {e}", t.authority);
    let stream = tokio::net::TcpStream::connect(&t.authority)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, &t.authority)
        .header(CONTENT_TYPE, "application/json");
    if let Some(token) = &t.token {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let payload = body.map(|b| Bytes::from(b.to_string()));
    let req = req
        .body(Body::Full(payload))
        .map_err(|e| format!("lanterm: building the request: {e}"))?;
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| unreachable(&e))?;
    let status = response.status();
    let mut incoming = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut incoming).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| unreachable(&e))?;
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
            if bytes.len() > MAX_ANSWER {
                return Err("lanterm: the answer is too large".into());
            }
        }
    }
    let value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("lanterm: unreadable answer ({status}): {e}"))?
    };
    if status.is_success() {
        Ok(value)
    } else {
        let message = value["error"]["message"].as_str().unwrap_or("no details");
        Err(format!("lanterm: {} {message}", status.as_u16()))
    }
}
