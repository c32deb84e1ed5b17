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
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::Target;
use crate::pty::terminal_size;

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
    Exited(Value),
    Dropped(String),
    Refused(String),
}

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
                let how = match (&s["exit_code"], &s["exit_signal"]) {
                    (Value::Number(c), _) => format!("exit code {c}"),
                    (_, Value::String(sig)) => format!("signal {sig}"),
                    _ => "no exit status".into(),
                };
                break Ok((
                    ExitCode::SUCCESS,
                    format!(
                        "[session {}: {how}]",
                        s["status"].as_str().unwrap_or("ended")
                    ),
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

/// Output offsets with the time they arrived: at most one a second, the newest [`MARKS`].
#[derive(Default)]
struct Marks(std::collections::VecDeque<(u64, i64)>);

/// Marks kept: the output of the last minute or so of activity.
const MARKS: usize = 64;

impl Marks {
    fn note(&mut self, offset: u64) {
        let now = crate::clock::Timestamp::now().0;
        if self.0.back().is_none_or(|&(_, t)| t < now) {
            if self.0.len() == MARKS {
                self.0.pop_front();
            }
            self.0.push_back((offset, now));
        }
    }

    /// The time (UTC, `HH:MM:SS`) output at `offset` arrived, about.
    fn time_of(&self, offset: u64) -> String {
        let at = self
            .0
            .iter()
            .rev()
            .find(|(o, _)| *o <= offset)
            .or(self.0.front());
        let stamp = at.map_or_else(crate::clock::Timestamp::now, |&(_, t)| {
            crate::clock::Timestamp(t)
        });
        let text = stamp.to_string(); // RFC 3339: 2026-12-06T14:02:11Z
        format!("{} UTC", text.get(11..19).unwrap_or(&text))
    }
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
    let Link {
        offset,
        pending_detach,
        attached,
        marks,
    } = link;
    let mode = if read_only { "ro" } else { "rw" };
    let from = offset.map(|o| format!("&from={o}")).unwrap_or_default();
    let url = format!(
        "ws://{}/api/sessions/{id}/attach?mode={mode}{from}",
        t.authority
    );
    let mut request = match url.into_client_request() {
        Ok(r) => r,
        Err(e) => return End::Refused(format!("lanterm: {e}")),
    };
    if let Some(token) = &t.token
        && let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        request.headers_mut().insert("authorization", v);
    }
    let stream = match tokio::net::TcpStream::connect(&t.authority).await {
        Ok(s) => s,
        Err(e) => return End::Dropped(e.to_string()),
    };
    let _ = stream.set_nodelay(true);
    let mut ws = match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => ws,
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
            return End::Refused(format!("lanterm: {}: {message}", r.status()));
        }
        Err(e) => return End::Dropped(e.to_string()),
    };
    let mut winch = match signal(SignalKind::window_change()) {
        Ok(s) => s,
        Err(e) => return End::Refused(format!("lanterm: SIGWINCH: {e}")),
    };
    let mut stdout = std::io::stdout();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    marks.note(offset.unwrap_or(0));
                    *offset = Some(offset.unwrap_or(0) + bytes.len() as u64);
                    let _ = stdout.write_all(&bytes).and_then(|()| stdout.flush());
                }
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("attached") => {
                            *attached = true;
                            let at = v["offset"].as_u64();
                            // The service stopped before storing output shown here: say so
                            // once and go on from what it has.
                            if let (Some(held), Some(at)) = (*offset, at)
                                && at < held
                            {
                                let since = marks.time_of(at);
                                eprint!("\r\n[output after {since} was not saved]\r\n");
                            }
                            *offset = at;
                            send_size(&mut ws, read_only).await;
                        }
                        Some("gap") => *offset = v["to"].as_u64(),
                        Some("exit") => return End::Exited(v["session"].clone()),
                        Some("error") => {
                            eprint!("\r\n[{}]\r\n", v["message"].as_str().unwrap_or("error"));
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return End::Dropped(frame.map_or("closed".into(), |f| f.reason.to_string()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return End::Dropped(e.to_string()),
                None => return End::Dropped("closed".into()),
            },
            n = input.read(&mut buf) => {
                let n = match n {
                    Ok(0) | Err(_) => return End::Detached, // our terminal went away
                    Ok(n) => n,
                };
                // Ctrl-\ twice in a row detaches; a single one is passed on with the next key.
                let mut out = Vec::with_capacity(n + 1);
                for &key in &buf[..n] {
                    let held = std::mem::take(pending_detach);
                    match (key == DETACH, held) {
                        (true, true) => return End::Detached,
                        (true, false) => *pending_detach = true,
                        (false, held) => {
                            if held {
                                out.push(DETACH);
                            }
                            out.push(key);
                        }
                    }
                }
                if out.is_empty() {
                    continue;
                }
                if !read_only && ws.send(Message::binary(out)).await.is_err() {
                    return End::Dropped("send failed".into());
                }
            }
            _ = winch.recv() => send_size(&mut ws, read_only).await,
        }
    }
}

/// Tells the session this terminal's size (a read-only client leaves the size alone).
async fn send_size<S>(ws: &mut S, read_only: bool)
where
    S: futures_util::Sink<Message> + Unpin,
{
    if let (false, Some((cols, rows))) = (read_only, own_size()) {
        let resize = json!({ "type": "resize", "cols": cols, "rows": rows });
        let _ = ws.send(Message::text(resize.to_string())).await;
    }
}
