//! The login endpoints: `POST /api/login` (password to token and cookie), `POST /api/logout`,
//! and `POST /api/password` (an addition: set the password with the first-run setup token, or
//! change it when logged in, with the current one). The decisions are the `auth` gate's; this file speaks HTTP.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, RETRY_AFTER, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::respond::{self, Response};
use super::{Api, body};
use crate::auth::{Caller, Issued, Peer, Secret};
use crate::model::error::{Code, Error};

/// Login bodies are tiny; a bigger one is refused before it is read.
const MAX_LOGIN_BODY: u64 = 8 * 1024;

fn issued(i: &Issued) -> Response {
    let mut r = respond::json(
        StatusCode::OK,
        &json!({ "token": i.token, "expires_at": i.expires_at }),
    );
    if let Ok(v) = HeaderValue::from_str(&i.cookie) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// The error response, with `Retry-After` on 429 (the message says how long too).
pub fn refused(err: &Error) -> Response {
    let mut r = respond::error(err);
    if err.code == Code::TooManyRequests
        && let Some(secs) = err
            .message
            .split_whitespace()
            .find_map(|w| w.parse::<u64>().ok())
    {
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

pub async fn login(api: &Arc<Api>, req: Request<Incoming>, peer: Peer) -> Result<Response, Error> {
    #[derive(Deserialize)]
    struct Login {
        password: Option<String>,
    }
    let secure = api.gate.https_page(req.headers(), peer);
    let (_, bytes) = body::read(req, api.limits.max_body.min(MAX_LOGIN_BODY)).await?;
    let Login { password } = body::json(&bytes)?;
    let password =
        password.ok_or_else(|| Error::bad_request("the body needs a \"password\" string"))?;
    match api.gate.login(password, peer, secure).await {
        Ok(i) => Ok(issued(&i)),
        Err(e) => Ok(refused(&e)),
    }
}

pub async fn logout(api: &Arc<Api>, caller: &Caller, secure: bool) -> Result<Response, Error> {
    api.gate.logout(caller).await?;
    let mut r = respond::no_content();
    for cookie in api.gate.clear_cookies(secure) {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().append(SET_COOKIE, v);
        }
    }
    Ok(r)
}

/// Sets the password: with `setup_token` (first run, no password yet) or as a logged-in caller
/// with `current_password`.
pub async fn password(
    api: &Arc<Api>,
    req: Request<Incoming>,
    peer: Peer,
) -> Result<Response, Error> {
    #[derive(Deserialize)]
    struct SetPassword {
        password: Option<String>,
        setup_token: Option<String>,
        current_password: Option<String>,
    }
    let caller = match api.gate.admit(&Method::POST, req.headers(), peer).await {
        Ok(c) => Some(c),
        // Without credentials the setup token may stand in; any other refusal stands.
        Err(e) if e.code == Code::Unauthorized => None,
        Err(e) => return Err(e),
    };
    let secure = api.gate.https_page(req.headers(), peer);
    let (_, bytes) = body::read(req, api.limits.max_body.min(MAX_LOGIN_BODY)).await?;
    let SetPassword {
        password,
        setup_token,
        current_password,
    } = body::json(&bytes)?;
    let secret = Secret {
        setup: setup_token,
        current: current_password,
    };
    let password =
        password.ok_or_else(|| Error::bad_request("the body needs a \"password\" string"))?;
    match api
        .gate
        .set_password(password, secret, caller.as_ref(), peer, secure)
        .await
    {
        Ok(i) => Ok(issued(&i)),
        Err(e) => Ok(refused(&e)),
    }
}
