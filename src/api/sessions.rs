//! The session endpoints: list, create, get, rename, input, resize, stop, delete.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::respond::{self, Response};
use super::{Api, body};
use crate::auth::Caller;
use crate::engine::CreateRequest;
use crate::engine::Manager;
use crate::engine::parse_stop_signal;
use crate::model::error::Error;
use crate::model::record::Status;

pub fn list(m: &Manager, query: Option<&str>) -> Result<Response, Error> {
    let q = super::query::Query::parse(query);
    let status = match q.get("status") {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            Error::bad_request(format!(
                "status must be one of running, stopped, completed, failed, lost, not {s:?}"
            ))
        })?),
    };
    Ok(respond::json(
        StatusCode::OK,
        &json!({ "sessions": m.list(status) }),
    ))
}

pub async fn create(
    api: &Arc<Api>,
    req: Request<Incoming>,
    caller: &Caller,
) -> Result<Response, Error> {
    let (_, bytes) = body::read(req, api.limits.max_body).await?;
    let mut request: CreateRequest = body::json(&bytes)?;
    request.created_by = Some(caller.describe());
    let info = api.manager.create(request).await?;
    Ok(respond::json(
        StatusCode::CREATED,
        &json!({ "session": info }),
    ))
}

pub fn get(m: &Manager, id: &str) -> Result<Response, Error> {
    Ok(respond::json(
        StatusCode::OK,
        &json!({ "session": m.get(id)? }),
    ))
}

pub async fn rename(api: &Arc<Api>, id: &str, req: Request<Incoming>) -> Result<Response, Error> {
    #[derive(Deserialize)]
    struct Rename {
        name: Option<String>,
    }
    api.manager.session(id)?;
    let (_, bytes) = body::read(req, api.limits.max_body).await?;
    let Rename { name } = body::json(&bytes)?;
    let name = name.ok_or_else(|| Error::bad_request("the body needs a \"name\""))?;
    let info = api.manager.rename(id, &name).await?;
    Ok(respond::json(StatusCode::OK, &json!({ "session": info })))
}

pub async fn input(api: &Arc<Api>, id: &str, req: Request<Incoming>) -> Result<Response, Error> {
    #[derive(Deserialize)]
    struct Input {
        data: Option<String>,
    }
    api.manager.session(id)?;
    let (headers, bytes) = body::read(req, api.limits.max_body).await?;
    if body::is_json(&headers) {
        let Input { data } = body::json(&bytes)?;
        let data = data.ok_or_else(|| Error::bad_request("the body needs a \"data\" string"))?;
        api.manager.input(id, data.as_bytes()).await?;
    } else {
        api.manager.input(id, &bytes).await?;
    }
    Ok(respond::no_content())
}

pub async fn resize(api: &Arc<Api>, id: &str, req: Request<Incoming>) -> Result<Response, Error> {
    #[derive(Deserialize)]
    struct Resize {
        cols: Option<i64>,
        rows: Option<i64>,
    }
    api.manager.session(id)?;
    let (_, bytes) = body::read(req, api.limits.max_body).await?;
    let Resize { cols, rows } = body::json(&bytes)?;
    let (Some(cols), Some(rows)) = (cols, rows) else {
        return Err(Error::bad_request(
            "the body needs \"cols\" and \"rows\" (1 to 1000)",
        ));
    };
    api.manager.resize(id, cols, rows).await?;
    Ok(respond::no_content())
}

pub async fn stop(api: &Arc<Api>, id: &str, req: Request<Incoming>) -> Result<Response, Error> {
    #[derive(Deserialize)]
    struct Stop {
        signal: Option<String>,
    }
    api.manager.session(id)?;
    let (_, bytes) = body::read(req, api.limits.max_body).await?;
    let Stop { signal } = body::json(&bytes)?;
    let signal = signal.as_deref().map(parse_stop_signal).transpose()?;
    let info = api.manager.stop(id, signal)?;
    Ok(respond::json(
        StatusCode::ACCEPTED,
        &json!({ "session": info }),
    ))
}

pub async fn delete(m: &Manager, id: &str) -> Result<Response, Error> {
    m.delete(id).await?;
    Ok(respond::no_content())
}
