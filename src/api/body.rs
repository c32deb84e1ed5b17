//! Request bodies: read with a hard size limit (413 as soon as it is exceeded, without reading
//! the rest) and a deadline (408: a client that dribbles its body, or never sends it, cannot
//! hold a connection), and parsed as JSON with errors that say what was wrong.

use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Request};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::model::error::{Code, Error};

fn too_large(max: u64) -> Error {
    Error::new(
        Code::PayloadTooLarge,
        format!("the request body is over the limit of {max} bytes (--max-body)"),
    )
}

/// When a request's body must have arrived: the server puts one in every request's
/// extensions, `--header-timeout` after its head (the same allowance again, for the body).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

/// Reads the whole body of `req`, at most `max` bytes, by its [`Deadline`] if it has one.
pub async fn read(req: Request<Incoming>, max: u64) -> Result<(HeaderMap, Bytes), Error> {
    let (parts, mut body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let reading = async {
        let mut buf = Vec::new();
        loop {
            let frame =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
            let Some(frame) = frame else {
                return Ok(buf);
            };
            let frame = frame.map_err(|e| Error::bad_request(format!("reading the body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() as u64 + data.len() as u64 > max {
                    return Err(too_large(max));
                }
                buf.extend_from_slice(&data);
            }
        }
    };
    let buf = match parts.extensions.get::<Deadline>() {
        Some(Deadline(at)) => tokio::time::timeout_at(*at, reading).await.map_err(|_| {
            Error::new(
                Code::RequestTimeout,
                "the request body did not arrive in time (--header-timeout)",
            )
        })??,
        None => reading.await?,
    };
    Ok((parts.headers, buf.into()))
}

/// Whether the request says its body is JSON.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

/// Parses a JSON body, which must be an object; an empty body counts as `{}` (every field of
/// our requests is optional or checked by the handler). serde would also fill a struct from an
/// array, field by field in declaration order: that is not part of the API, so it is refused.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let bytes = match start.map(|i| bytes[i]) {
        None => b"{}".as_slice(),
        Some(b'{') => bytes,
        Some(_) => return Err(Error::bad_request("the body must be a JSON object")),
    };
    serde_json::from_slice(bytes).map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Two {
        a: Option<String>,
        b: Option<i64>,
    }

    #[test]
    fn only_objects_fill_a_request() {
        let two: Two = json(b" \n ").unwrap();
        assert!(two.a.is_none() && two.b.is_none());
        let two: Two = json(b" {\"a\": \"x\", \"b\": 2}").unwrap();
        assert_eq!((two.a.as_deref(), two.b), (Some("x"), Some(2)));
        for bad in [&b"[\"x\", 2]"[..], b"null", b"\"x\"", b"2", b"{", b"\xff"] {
            assert!(json::<Two>(bad).is_err(), "{bad:?}");
        }
    }
}
