//! HTTP responses: the body type every handler returns, JSON helpers, and the contract's error
//! shape `{"error": {"code": ..., "message": ...}}`.

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body as HttpBody, Bytes, Frame, SizeHint};
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Response as HttpResponse, StatusCode};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::model::error::{Code, Error};

/// A response body: all at once, or streamed from a bounded channel (events, downloads).
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
    /// A stream that can fail halfway: an error ends the response without its last chunk, so
    /// the client sees an incomplete body rather than a short one that looks whole.
    Fallible(mpsc::Receiver<Result<Bytes, std::io::Error>>),
}

impl Body {
    pub fn empty() -> Body {
        Body::Full(None)
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
            Body::Fallible(rx) => rx.poll_recv(cx).map(|b| b.map(|b| b.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(_) | Body::Fallible(_) => SizeHint::default(),
        }
    }
}

pub type Response = HttpResponse<Body>;

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut r = HttpResponse::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(v) => with_type(status, "application/json", Body::Full(Some(v.into()))),
        Err(e) => error(&Error::internal(format!("encoding the answer: {e}"))),
    }
}

/// A text response of `content_type` (the metrics).
pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    with_type(status, content_type, Body::Full(Some(body.into())))
}

/// The contract's error body, with the status that goes with its code.
pub fn error(err: &Error) -> Response {
    #[derive(Serialize)]
    struct Inner<'a> {
        code: &'a str,
        message: &'a str,
    }
    #[derive(Serialize)]
    struct Outer<'a> {
        error: Inner<'a>,
    }
    let status =
        StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = Outer {
        error: Inner {
            code: err.code.as_str(),
            message: &err.message,
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut r = with_type(status, "application/json", Body::Full(Some(bytes.into())));
    if matches!(err.code, Code::PayloadTooLarge | Code::RequestTimeout) {
        // The rest of the body was not read: the connection cannot carry another request.
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

pub fn no_content() -> Response {
    let mut r = HttpResponse::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// A streamed response of `content_type` that the sender can break off with an error (the
/// client then sees the body end without its terminating chunk: an error, not a short file).
pub fn fallible_stream(
    content_type: &'static str,
    depth: usize,
) -> (Response, mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let (tx, rx) = mpsc::channel(depth);
    (
        with_type(StatusCode::OK, content_type, Body::Fallible(rx)),
        tx,
    )
}

/// A streamed response of `content_type`, fed through the returned sender.
pub fn stream(content_type: &'static str, depth: usize) -> (Response, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(depth);
    (
        with_type(StatusCode::OK, content_type, Body::Stream(rx)),
        tx,
    )
}
