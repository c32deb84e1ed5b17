//! `GET /api/events`: the engine's change broadcast as server-sent events, one stream per
//! subscriber within `--max-streams`. A subscriber that falls behind by more than the event
//! buffer gets an `event: lagged` line (and should re-list) instead of growing memory.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use tokio::sync::broadcast::error::RecvError;

use super::Api;
use super::respond::{self, Response};
use super::wire::{Lagged, StreamEvent};
use crate::auth::Caller;
use crate::model::error::{Code, Error};

/// A comment line now and then keeps proxies from closing an idle stream, and finds dead
/// clients.
const KEEPALIVE: Duration = Duration::from_secs(15);

fn encode(event: StreamEvent) -> Bytes {
    event.to_sse().into()
}

/// The stream ends when the service stops, the client goes, or `caller`'s login ends (expires
/// or is revoked: a last comment line says which).
pub fn stream(api: &Arc<Api>, caller: Caller) -> Result<Response, Error> {
    let permit = api.streams.clone().try_acquire_owned().map_err(|_| {
        Error::new(
            Code::LimitReached,
            "too many event streams are open (--max-streams)",
        )
    })?;
    let mut events = api.manager.subscribe();
    let mut shutdown = api.shutdown.clone();
    let (mut response, tx) = respond::stream("text/event-stream", 16);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let api = api.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        // One future for the whole stream: a new one each turn could miss the revocation.
        let login_ends = api.gate.until_login_ends(&caller);
        tokio::pin!(login_ends);
        // The first tick is immediate: it sends the headers and an opening comment at once.
        loop {
            let chunk = tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => encode(StreamEvent::from(&ev)),
                    Err(RecvError::Lagged(n)) => encode(StreamEvent::Lagged(Lagged { missed: n })),
                    Err(RecvError::Closed) => break,
                },
                _ = keepalive.tick() => Bytes::from_static(b": keep-alive\n\n"),
                () = super::stopping(&mut shutdown) => break,
                () = tx.closed() => break,
                end = &mut login_ends => {
                    let last = format!(": {}\n\n", end.reason());
                    let _ = tx.try_send(Bytes::from(last));
                    break;
                }
            };
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    Ok(response)
}
