//! Routing: method and path to handler, with the access gate in front of everything but
//! the public parts (`GET /api/health`, `POST /api/login`, `POST /api/password`, which checks
//! for itself, and the UI's files). Unknown paths are 404 and known paths with the wrong method 405 (the
//! message says which methods it takes), both in the contract's JSON error shape.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{
    ALLOW, CACHE_CONTROL, CONNECTION, HeaderValue, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Method, Request};

use super::respond::{self, Response};
use super::{Api, assets, attach, events, files, health, login, metrics, output, sessions};
use crate::auth::{Caller, Peer};
use crate::model::error::{Code, Error};

/// Answers one request from `peer`.
pub async fn handle(api: Arc<Api>, req: Request<Incoming>, peer: Peer) -> Response {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method().clone();
    let result = match (method.clone(), segments.as_slice()) {
        // Prometheus' customary path, outside /api, behind the gate like the API.
        (Method::GET, ["metrics"]) => api
            .gate
            .admit(&method, req.headers(), peer)
            .await
            .map(|_| metrics::metrics(&api)),
        // The UI's files: public, exact names only.
        (Method::GET | Method::HEAD, s) if s.first() != Some(&"api") => match assets::find(&path) {
            Some(asset) => Ok(assets::serve(asset, req.headers())),
            None => Err(Error::not_found("no such page")),
        },
        (Method::GET, ["api", "health"]) => {
            let authed = api.gate.knows(&method, req.headers(), peer).await;
            Ok(health::health(&api, authed))
        }
        (Method::POST, ["api", "login"]) => login::login(&api, req, peer).await,
        (Method::POST, ["api", "password"]) => login::password(&api, req, peer).await,
        _ => match api.gate.admit(&method, req.headers(), peer).await {
            Err(e) => Err(e),
            Ok(caller) => route(&api, method, &segments, req, caller).await,
        },
    };
    let mut response = result.unwrap_or_else(|e| {
        let mut r = respond::error(&e);
        if e.code == Code::MethodNotAllowed
            && let Some(allowed) = allowed_methods(&segments)
        {
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
        }
        r
    });
    let not_a_file = segments
        .first()
        .is_some_and(|s| *s == "api" || *s == "metrics");
    harden(response.headers_mut(), not_a_file, api.gate.over_tls(peer));
    response
}

/// The answer to the first request of a connection let in on a reserved slot (see `slots`)
/// when it carries no live login: 503, and the connection closes.
pub fn reserved_for_logins() -> Response {
    let busy = Error::new(
        Code::Unavailable,
        "too many connections: the last ones are kept for requests with a live login \
         (--reserved-conns); try again later",
    );
    let mut response = respond::error(&busy);
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    harden(headers, true, false);
    response
}

/// Headers every answer carries: no MIME sniffing, no framing by other sites, and no
/// `Referer` (a link must not carry this page's address to a site a terminal link points at).
/// API answers (tokens, transcripts, downloads) are never stored by a cache, and over the
/// service's own TLS browsers are told to use nothing else (`Strict-Transport-Security`).
fn harden(h: &mut hyper::HeaderMap, api: bool, tls: bool) {
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if api {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        h.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

async fn route(
    api: &Arc<Api>,
    method: Method,
    segments: &[&str],
    req: Request<Incoming>,
    caller: Caller,
) -> Result<Response, Error> {
    let m = &api.manager;
    match (method, segments) {
        (Method::POST, ["api", "logout"]) => {
            let secure = api.gate.https_page(req.headers(), caller.peer);
            login::logout(api, &caller, secure).await
        }
        (Method::GET, ["api", "sessions"]) => sessions::list(m, req.uri().query()),
        (Method::POST, ["api", "sessions"]) => sessions::create(api, req, &caller).await,
        (Method::GET, ["api", "sessions", id]) => sessions::get(m, id),
        (Method::PATCH, ["api", "sessions", id]) => sessions::rename(api, id, req).await,
        (Method::DELETE, ["api", "sessions", id]) => sessions::delete(m, id).await,
        (Method::POST, ["api", "sessions", id, "input"]) => sessions::input(api, id, req).await,
        (Method::POST, ["api", "sessions", id, "resize"]) => sessions::resize(api, id, req).await,
        (Method::POST, ["api", "sessions", id, "stop"]) => sessions::stop(api, id, req).await,
        (Method::GET, ["api", "sessions", id, "output"]) => {
            output::download(m, id, req.uri().query()).await
        }
        (Method::POST, ["api", "sessions", id, "files"]) => files::upload(api, id, req).await,
        (Method::GET, ["api", "sessions", id, "files"]) => {
            files::download(api, id, req.uri().query()).await
        }
        (Method::GET, ["api", "sessions", id, "attach"]) => attach::upgrade(api, id, req, caller),
        (Method::GET, ["api", "events"]) => events::stream(api, caller),
        (_, path) => Err(wrong_method_or_missing(path)),
    }
}

/// The methods a known path takes.
fn allowed_methods(path: &[&str]) -> Option<&'static str> {
    Some(match path {
        ["api", "health"] | ["api", "events"] | ["metrics"] => "GET",
        ["api", "login" | "logout" | "password"] => "POST",
        ["api", "sessions"] => "GET, POST",
        ["api", "sessions", _] => "GET, PATCH, DELETE",
        ["api", "sessions", _, "input" | "resize" | "stop"] => "POST",
        ["api", "sessions", _, "output" | "attach"] => "GET",
        ["api", "sessions", _, "files"] => "GET, POST",
        _ => return None,
    })
}

/// 405 (the `Allow` header is added on the way out) for a known path, else 404.
fn wrong_method_or_missing(path: &[&str]) -> Error {
    match allowed_methods(path) {
        Some(allowed) => Error::new(
            Code::MethodNotAllowed,
            format!("this endpoint takes {allowed}"),
        ),
        None => Error::not_found("no such endpoint (see docs/PROTOCOL.md)"),
    }
}
