//! Files in and out of a session: `POST /api/sessions/{id}/files?name=` writes the request body
//! into the current directory of the terminal's foreground process, `GET ...?path=` sends a
//! file back. Neither is touched by the service itself: a worker (`crate::transfer`, this same
//! binary) started as the session's user (groups, gid, uid dropped before it runs) opens, writes
//! and reads them, so each check is the kernel's, as that user. Bytes go through pipes a frame at
//! a time: memory stays bounded whatever the size.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use super::Api;
use super::query::Query;
use super::respond::{self, Response};
use crate::engine::pty::Credentials;
use crate::model::error::{Code, Error};

/// Where a transfer happens and as whom.
struct Place {
    dir: PathBuf,
    user: String,
    credentials: Option<Credentials>,
}

/// The name an upload may take: a single path component.
fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::bad_request(
            "name must be a file name: not empty, `.` or `..`, without `/` or NUL",
        ));
    }
    Ok(())
}

/// The running session's foreground directory and user.
async fn place(api: &Api, id: &str) -> Result<Place, Error> {
    let session = api.manager.session(id)?;
    let not_running = || Error::conflict("the session is not running");
    if !session.status().is_running() {
        return Err(not_running());
    }
    // The foreground group's leader; when it has gone (the first command of a pipeline that
    // ended), the session's own process.
    let cwd = |pid: i32| std::fs::read_link(format!("/proc/{pid}/cwd"));
    let leader = session.pid().ok_or_else(not_running)?;
    let dir = match session.foreground_group().map(cwd) {
        Some(Ok(dir)) => dir,
        _ => cwd(leader)
            .map_err(|e| Error::conflict(format!("the shell's directory is unknown: {e}")))?,
    };
    let user = session.info().user;
    let name = user.clone();
    let credentials = tokio::task::spawn_blocking(move || credentials_of(&name))
        .await
        .map_err(|e| Error::internal(format!("looking up the user: {e}")))??;
    Ok(Place {
        dir,
        user,
        credentials,
    })
}

/// Whom the worker becomes: the session's user, when the service is root.
fn credentials_of(name: &str) -> Result<Option<Credentials>, Error> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None); // every session runs as the service's own user
    }
    let user = nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .ok_or_else(|| Error::conflict(format!("the user {name} no longer exists")))?;
    let cname = std::ffi::CString::new(name)
        .map_err(|_| Error::bad_request("user names cannot contain NUL"))?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .map_err(|e| Error::internal(format!("reading the groups of {name}: {e}")))?;
    Ok(Some(Credentials {
        uid: user.uid,
        gid: user.gid,
        groups,
    }))
}

/// Starts the worker with `args` as the place's user.
fn start(place: &Place, args: &[&std::ffi::OsStr]) -> Result<Child, Error> {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(crate::transfer::SUBCOMMAND)
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    crate::engine::pty::spawn_as(cmd, place.credentials.clone())
        .map_err(|e| Error::internal(format!("starting the transfer: {e}")))
}

/// The worker's next line, as `Ok(rest)` after `ready`/`done` or its error.
async fn answer(out: &mut BufReader<ChildStdout>) -> Result<String, Error> {
    let mut line = String::new();
    let mut limited = out.take(4096);
    limited
        .read_line(&mut line)
        .await
        .map_err(|e| Error::internal(format!("the transfer failed: {e}")))?;
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("ready").or(line.strip_prefix("done")) {
        return Ok(rest.trim().to_string());
    }
    let Some((code, message)) = line.strip_prefix("error ").and_then(|r| r.split_once(' ')) else {
        return Err(Error::internal("the transfer stopped"));
    };
    let code = match code {
        "bad_request" => Code::BadRequest,
        "not_found" => Code::NotFound,
        "forbidden" => Code::Forbidden,
        "conflict" => Code::Conflict,
        _ => Code::Internal,
    };
    Err(Error::new(code, message.to_string()))
}

fn too_large(max: u64) -> Error {
    Error::new(
        Code::PayloadTooLarge,
        format!("the file is over the limit of {max} bytes (--max-upload)"),
    )
}

/// `POST /api/sessions/{id}/files?name=NAME[&overwrite=1]`.
pub async fn upload(api: &Arc<Api>, id: &str, req: Request<Incoming>) -> Result<Response, Error> {
    let q = Query::parse(req.uri().query());
    let name = q.get("name").unwrap_or("").to_string();
    check_name(&name)?;
    let overwrite = q.get("overwrite") == Some("1");
    let max = api.limits.max_upload;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let place = place(api, id).await?;
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let flag = if overwrite { "1" } else { "0" };
    let mut child = start(
        &place,
        &[
            "put".as_ref(),
            place.dir.as_os_str(),
            name.as_ref(),
            flag.as_ref(),
        ],
    )?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Error::internal("the transfer has no pipes"));
    };
    let mut out = BufReader::new(stdout);
    let mut body = req.into_body();
    if let Err(e) = answer(&mut out).await {
        // Read (and drop) the body first: a browser still sending it would see the connection
        // reset instead of this answer (409 before the overwrite question, 403).
        let _ = discard(api, &mut body, max).await;
        return Err(e);
    }
    let sent = feed(api, body, &mut stdin, max).await;
    let result = match sent {
        Ok(()) => answer(&mut out).await,
        Err(e) => {
            drop(stdin); // no end frame: the worker removes its temporary file
            let worker = answer(&mut out).await;
            let _ = child.wait().await;
            // A broken pipe means the worker stopped first: its reason is the one to give.
            Err(match worker {
                Err(w) if e.code == Code::Internal => w,
                _ => e,
            })
        }
    };
    let path = place.dir.join(&name);
    let bytes: u64 = result?.parse().unwrap_or(0);
    let _ = child.wait().await;
    log::info!(
        "upload: session {id}, user {}, {} ({bytes} bytes)",
        place.user,
        path.display()
    );
    Ok(respond::json(
        StatusCode::CREATED,
        &json!({ "path": path.to_string_lossy(), "bytes": bytes }),
    ))
}

/// Copies the request body to the worker in frames, ending with the end frame; an error (the
/// client went away, too slow, over the limit) leaves the end frame out.
async fn feed(
    api: &Api,
    mut body: Incoming,
    stdin: &mut tokio::process::ChildStdin,
    max: u64,
) -> Result<(), Error> {
    let idle = api
        .limits
        .client_timeout
        .max(std::time::Duration::from_secs(30));
    let mut total = 0u64;
    loop {
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx));
        let frame = tokio::time::timeout(idle, next)
            .await
            .map_err(|_| Error::new(Code::RequestTimeout, "the upload stalled"))?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| Error::bad_request(format!("reading the upload: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if total > max {
            return Err(too_large(max));
        }
        for chunk in data.chunks(crate::transfer::MAX_FRAME) {
            write_frame(stdin, chunk).await?;
        }
    }
    write_frame(stdin, &[]).await?;
    stdin
        .flush()
        .await
        .map_err(|e| Error::internal(format!("the transfer failed: {e}")))
}

/// Reads the rest of a body without keeping it, up to `max` bytes.
async fn discard(api: &Api, body: &mut Incoming, max: u64) -> Result<(), Error> {
    let idle = api.limits.client_timeout;
    let mut total = 0u64;
    while total <= max {
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx));
        match tokio::time::timeout(idle, next).await {
            Ok(Some(Ok(frame))) => {
                total += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            _ => break,
        }
    }
    Ok(())
}

async fn write_frame(stdin: &mut tokio::process::ChildStdin, data: &[u8]) -> Result<(), Error> {
    let failed = |e: std::io::Error| Error::internal(format!("the transfer failed: {e}"));
    stdin
        .write_all(&(data.len() as u32).to_be_bytes())
        .await
        .map_err(failed)?;
    stdin.write_all(data).await.map_err(failed)
}

/// `GET /api/sessions/{id}/files?path=PATH`.
pub async fn download(api: &Arc<Api>, id: &str, query: Option<&str>) -> Result<Response, Error> {
    let q = Query::parse(query);
    let path = q.get("path").unwrap_or("").to_string();
    if path.is_empty() || path.contains('\0') {
        return Err(Error::bad_request("path must name a file"));
    }
    let place = place(api, id).await?;
    let mut child = start(
        &place,
        &["get".as_ref(), place.dir.as_os_str(), path.as_ref()],
    )?;
    let Some(stdout) = child.stdout.take() else {
        return Err(Error::internal("the transfer has no pipes"));
    };
    let mut out = BufReader::new(stdout);
    let size: u64 = answer(&mut out)
        .await?
        .parse()
        .map_err(|_| Error::internal("the transfer stopped"))?;
    let full = place.dir.join(&path);
    log::info!(
        "download: session {id}, user {}, {} ({size} bytes)",
        place.user,
        full.display()
    );
    let (mut response, tx) = respond::stream("application/octet-stream", 4);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = out.read(&mut buf).await {
            if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                break;
            }
        }
        let _ = child.kill().await; // the client went away: stop reading
    });
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
    let base = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    if let Ok(v) = HeaderValue::from_str(&disposition(&base)) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' if c != '"' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_dispositions() {
        for bad in ["", ".", "..", "a/b", "/", "a\0b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["a", ".bashrc", "...", "a b", "é"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
        assert_eq!(
            disposition("a \"b\"é.txt"),
            "attachment; filename=\"a _b__.txt\"; filename*=UTF-8''a%20%22b%22%C3%A9.txt"
        );
    }
}
