//! `GET /api/sessions/{id}/output`: stored output in `[from, to)`, streamed from memory and the
//! store in bounded pieces; `format=text` strips terminal escape sequences with the `vte`
//! parser for a readable transcript.

use hyper::header::{HeaderName, HeaderValue};

use super::query::Query;
use super::respond::{self, Response};
use crate::engine::{Chunk, Manager, Session};
use crate::model::error::Error;

/// Bytes read per piece of a download.
const PIECE: usize = 64 * 1024;

pub async fn download(m: &Manager, id: &str, query: Option<&str>) -> Result<Response, Error> {
    let session = m.session(id)?;
    let q = Query::parse(query);
    let text = q.one_of("format", &["raw", "text"], "raw")? == "text";
    // Output still waiting to be committed becomes readable once it is: commit it first, so
    // that `history_start` and the range below count it.
    let memory = session.memory_start();
    let stored = session.progress().stored_end();
    if memory.is_some_and(|oldest| stored < oldest) && m.store().health().ok {
        m.store().flush().await?;
    }
    let info = session.info();
    let from = q.offset("from")?.unwrap_or(info.history_start);
    let to = q.offset("to")?.unwrap_or(info.output_bytes);
    if from > to {
        return Err(Error::bad_request(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    // The range actually returned: what can be read without a hole, up to what exists now.
    let want = from.max(info.history_start).min(to.min(info.output_bytes));
    let (start, end, next) = readable(m, &session, want, to.min(info.output_bytes)).await?;
    let content_type = if text {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    let (mut response, tx) = respond::fallible_stream(content_type, 4);
    let mut headers = vec![("x-output-start", start), ("x-output-end", end)];
    headers.extend(next.map(|n| ("x-output-next", n)));
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    let store = m.store().clone();
    tokio::spawn(async move {
        let mut strip = text.then(Strip::default);
        let mut offset = start;
        while offset < end {
            let want = usize::try_from(end - offset).unwrap_or(PIECE).min(PIECE);
            let bytes = match session.read_at(&store, offset, want).await {
                Ok(Chunk::Data(bytes)) => bytes,
                // A hole that opened since the headers were sent (trimmed meanwhile): the
                // body cannot be what they said, so it is broken off.
                Ok(Chunk::Gap { from, to }) => {
                    let e = format!("output {from}..{to} was trimmed during the download");
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    break;
                }
                Ok(Chunk::Wait | Chunk::End) => break,
                // Headers are sent: the body is broken off (no terminating chunk), so the
                // client sees a failed download rather than a short one; the log says why.
                Err(e) => {
                    log::warn!(
                        "output of session {}: reading stopped at {offset}: {e}",
                        session.id
                    );
                    let _ = tx.send(Err(std::io::Error::other(e.message))).await;
                    break;
                }
            };
            offset += bytes.len() as u64;
            let piece = match strip.as_mut() {
                Some(s) => s.feed(&bytes),
                None => bytes,
            };
            if !piece.is_empty() && tx.send(Ok(piece.into())).await.is_err() {
                break; // the client went away
            }
        }
    });
    Ok(response)
}

/// The stretch of output from `want` that can be read without a hole, up to `end`:
/// `(start, stop, next)` where `next` is where readable output resumes after a hole (output that
/// never reached the database: a full disk, a queue that overflowed), if it does before `end`.
async fn readable(
    m: &Manager,
    session: &Session,
    want: u64,
    end: u64,
) -> Result<(u64, u64, Option<u64>), Error> {
    let store = m.store();
    let memory = session.memory_start();
    let mut runs = store.stored_runs(session.seq, want, end).await?;
    runs.extend(memory.map(|oldest| (oldest, end)));
    runs.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in runs {
        let (s, e) = (s.max(want), e.min(end));
        match merged.last_mut() {
            _ if s >= e => {}
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    match merged.first() {
        Some(&(start, stop)) => Ok((start, stop, merged.get(1).map(|r| r.0))),
        None => Ok((end, end, None)),
    }
}

/// Keeps printable text, newlines and tabs; drops escape sequences and other controls.
#[derive(Default)]
struct Strip {
    parser: vte::Parser,
    out: Text,
}

#[derive(Default)]
struct Text(String);

impl vte::Perform for Text {
    fn print(&mut self, c: char) {
        self.0.push(c);
    }
    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' => self.0.push('\n'),
            b'\t' => self.0.push('\t'),
            _ => {}
        }
    }
}

impl Strip {
    fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.parser.advance(&mut self.out, bytes);
        std::mem::take(&mut self.out.0).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_words_and_lines_and_drops_escapes() {
        let mut s = Strip::default();
        let mut out = s.feed(b"\x1b[1;31mred\x1b[0m plain\r\n\x1b]0;title\x07tab\there \xe2\x9c");
        out.extend(s.feed(b"\x93 done\x1b[2J\x1b[H\n"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "red plain\ntab\there \u{2713} done\n"
        );
    }
}
