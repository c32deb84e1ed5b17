//! `lanterm attach ID`: this terminal becomes the session's terminal, like `tmux attach`.
//!
//! The local terminal goes raw; keystrokes go out as binary frames, output comes back and is
//! written as it is; SIGWINCH sends the new size. Ctrl-\ twice detaches. When the connection
//! drops, it reconnects with backoff and resumes from the offset it holds, so nothing is shown
//! twice or lost.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::Target;
use super::marks::Marks;
use crate::api::wire::{self, ClientMsg, ServerMsg};
use crate::engine::pty::terminal_size;
use crate::model::record::SessionInfo;

/// The detach key, pressed twice in a row: Ctrl-\.
const DETACH: u8 = 0x1c;

/// This process's terminal size, if it has one.
pub fn own_size() -> Option<(u16, u16)> {
    terminal_size(std::io::stdin().as_fd())
}

/// Puts the terminal in raw mode and puts it back when dropped.
struct RawMode(Termios);

impl RawMode {
    fn enter() -> Result<RawMode, String> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd())
            .map_err(|e| format!("lanterm: attach needs a terminal: {e}"))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSADRAIN, &raw)
            .map_err(|e| format!("lanterm: raw mode: {e}"))?;
        Ok(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, &self.0);
    }
}

/// How one connection ended.
enum End {
    Detached,
    Exited(Box<SessionInfo>),
    Dropped(String),
    Refused(String),
}

type Ws = WebSocketStream<tokio::net::TcpStream>;

pub async fn attach(t: &Target, id: &str, read_only: bool) -> Result<ExitCode, String> {
    if !std::io::stdin().is_terminal() {
        return Err("lanterm: attach needs a terminal on standard input".into());
    }
    let raw = RawMode::enter()?;
    let mut link = Link::default();
    let mut backoff = Duration::from_millis(250);
    let mut input = tokio::io::stdin();
    let result = loop {
        let end = connect_once(t, id, read_only, &mut link, &mut input).await;
        if link.attached {
            backoff = Duration::from_millis(250); // it worked: the next drop starts over
        }
        match end {
            End::Detached => break Ok((ExitCode::SUCCESS, "[detached]".to_string())),
            End::Exited(s) => {
                let how = match (&s.exit_code, &s.exit_signal) {
                    (Some(c), _) => format!("exit code {c}"),
                    (None, Some(sig)) => format!("signal {sig}"),
                    _ => "no exit status".into(),
                };
                break Ok((
                    ExitCode::SUCCESS,
                    format!("[session {}: {how}]", s.status.as_str()),
                ));
            }
            End::Refused(e) => break Err(e),
            End::Dropped(why) => {
                eprint!("\r\n[connection lost: {why}; reconnecting…]\r\n");
                // Wait, but let the detach key through while waiting.
                let mut byte = [0u8; 1];
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    n = input.read(&mut byte) => {
                        if matches!(n, Ok(1)) && byte[0] == DETACH {
                            break Ok((ExitCode::SUCCESS, "[detached]".to_string()));
                        }
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    drop(raw);
    match result {
        Ok((code, message)) => {
            eprintln!("\r\n{message}");
            Ok(code)
        }
        Err(e) => Err(e),
    }
}

/// What survives from one connection to the next.
#[derive(Default)]
struct Link {
    /// The output offset received up to (`None` before the first `attached`).
    offset: Option<u64>,
    /// A first Ctrl-\ is waiting for the next key.
    pending_detach: bool,
    /// This connection got as far as `attached`.
    attached: bool,
    /// When output arrived, to say what a service that stopped uncleanly did not keep.
    marks: Marks,
}

/// One WebSocket connection: from the offset held (or the server's replay) until it ends.
async fn connect_once(
    t: &Target,
    id: &str,
    read_only: bool,
    link: &mut Link,
    input: &mut tokio::io::Stdin,
) -> End {
    link.attached = false;
    let mut ws = match connect(t, id, read_only, link.offset).await {
        Ok(ws) => ws,
        Err(end) => return end,
    };
    let mut winch = match signal(SignalKind::window_change()) {
        Ok(s) => s,
        Err(e) => return End::Refused(format!("lanterm: SIGWINCH: {e}")),
    };
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            msg = ws.next() => {
                if let Some(end) = received(msg, link, &mut ws, read_only).await {
                    return end;
                }
            }
            n = input.read(&mut buf) => {
                let n = match n {
                    Ok(0) | Err(_) => return End::Detached, // our terminal went away
                    Ok(n) => n,
                };
                let out = match keys(&buf[..n], &mut link.pending_detach) {
                    Some(out) => out,
                    None => return End::Detached,
                };
                if !out.is_empty()
                    && !read_only
                    && ws.send(Message::binary(out)).await.is_err()
                {
                    return End::Dropped("send failed".into());
                }
            }
            _ = winch.recv() => send_size(&mut ws, read_only).await,
        }
    }
}

/// Opens the WebSocket at `offset` (or the server's replay when `None`); an answer other than
/// the upgrade is a refusal, with the server's message.
async fn connect(t: &Target, id: &str, read_only: bool, offset: Option<u64>) -> Result<Ws, End> {
    let mode = if read_only { "ro" } else { "rw" };
    let from = offset.map(|o| format!("&from={o}")).unwrap_or_default();
    let url = format!(
        "ws://{}/api/sessions/{id}/attach?mode={mode}{from}",
        t.authority
    );
    let mut request = url
        .into_client_request()
        .map_err(|e| End::Refused(format!("lanterm: {e}")))?;
    if let Some(token) = &t.token
        && let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        request.headers_mut().insert("authorization", v);
    }
    let stream = tokio::net::TcpStream::connect(&t.authority)
        .await
        .map_err(|e| End::Dropped(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            let body = r
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(String::from))
                .unwrap_or_else(|| body.to_string());
            Err(End::Refused(format!("lanterm: {}: {message}", r.status())))
        }
        Err(e) => Err(End::Dropped(e.to_string())),
    }
}

/// Handles what the server sent: output is written out and counted, protocol frames acted on
/// (frames this version does not know are skipped). `Some` when the connection is over.
async fn received(
    msg: Option<Result<Message, WsError>>,
    link: &mut Link,
    ws: &mut Ws,
    read_only: bool,
) -> Option<End> {
    match msg {
        Some(Ok(Message::Binary(bytes))) => {
            link.marks.note(link.offset.unwrap_or(0));
            link.offset = Some(link.offset.unwrap_or(0) + bytes.len() as u64);
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(&bytes).and_then(|()| stdout.flush());
            None
        }
        Some(Ok(Message::Text(text))) => match wire::decode::<ServerMsg>(text.as_str()) {
            Ok(ServerMsg::Attached { offset, .. }) => {
                link.attached = true;
                // The service stopped before storing output shown here: say so once and go on
                // from what it has.
                if link.offset.is_some_and(|held| offset < held) {
                    let since = link.marks.time_of(offset);
                    eprint!("\r\n[output after {since} was not saved]\r\n");
                }
                link.offset = Some(offset);
                send_size(ws, read_only).await;
                None
            }
            Ok(ServerMsg::Gap { to, .. }) => {
                link.offset = Some(to);
                None
            }
            Ok(ServerMsg::Exit { session }) => Some(End::Exited(Box::new(session))),
            Ok(ServerMsg::Error { message, .. }) => {
                eprint!("\r\n[{message}]\r\n");
                None
            }
            Ok(ServerMsg::Resized { .. }) | Err(_) => None,
        },
        Some(Ok(Message::Close(frame))) => Some(End::Dropped(
            frame.map_or("closed".into(), |f| f.reason.to_string()),
        )),
        Some(Ok(_)) => None,
        Some(Err(e)) => Some(End::Dropped(e.to_string())),
        None => Some(End::Dropped("closed".into())),
    }
}

/// The keys to send for what was typed: Ctrl-\ twice in a row detaches (`None`); a single one
/// is passed on with the next key (`pending` carries it over from one read to the next).
fn keys(typed: &[u8], pending: &mut bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(typed.len() + 1);
    for &key in typed {
        let held = std::mem::take(pending);
        match (key == DETACH, held) {
            (true, true) => return None,
            (true, false) => *pending = true,
            (false, held) => {
                if held {
                    out.push(DETACH);
                }
                out.push(key);
            }
        }
    }
    Some(out)
}

/// Tells the session this terminal's size (a read-only client leaves the size alone).
async fn send_size<S>(ws: &mut S, read_only: bool)
where
    S: futures_util::Sink<Message> + Unpin,
{
    if let (false, Some((cols, rows))) = (read_only, own_size()) {
        let resize = ClientMsg::Resize {
            cols: i64::from(cols),
            rows: i64::from(rows),
        };
        let _ = ws.send(Message::text(wire::encode(&resize))).await;
    }
}
