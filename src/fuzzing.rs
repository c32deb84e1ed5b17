//! Exists for `tests/fuzz` (cargo-fuzz): entry points into the parsers of outside input that are
//! not public, each running the real code as the server does. Not an API.

use std::io::{self, Cursor, Read, Write};

use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Message, WebSocket};

use crate::api::attach;
use crate::api::query::Query;
use crate::api::wire::ClientMsg;
use crate::engine;

/// Parses `raw` as a request's query string, calls every typed getter on each of `keys`, and
/// returns what [`Query::get`] gives for each.
pub fn query(raw: &str, keys: &[&str]) -> Vec<Option<String>> {
    let q = Query::parse(Some(raw));
    keys.iter()
        .map(|key| {
            let _ = q.offset(key);
            let _ = q.one_of(key, &["rw", "ro"], "rw");
            let _ = q.one_of(key, &["raw", "text"], "raw");
            q.get(key).map(str::to_owned)
        })
        .collect()
}

/// One text message from an attached client, read and checked as the reading half does;
/// `true` when the server would act on it.
pub fn control_text(text: &str) -> bool {
    match ClientMsg::parse(text) {
        Ok(ClientMsg::Resize { cols, rows }) => {
            engine::dimension("cols", Some(cols), 80).is_ok()
                && engine::dimension("rows", Some(rows), 24).is_ok()
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// What a client sends on an attach WebSocket (frames, masked as clients must), read with the
/// server's WebSocket settings; every text message goes through [`control_text`]. Returns how
/// many messages were read before the stream ended or broke.
pub fn control_stream(bytes: &[u8], max_frame: u64) -> usize {
    let io = Pipe {
        input: Cursor::new(bytes),
    };
    let mut ws = WebSocket::from_raw_socket(io, Role::Server, Some(attach::ws_config(max_frame)));
    let mut count = 0;
    // Every read consumes input or ends the stream, so this ends.
    while let Ok(msg) = ws.read() {
        count += 1;
        if let Message::Text(text) = msg {
            control_text(text.as_str());
        }
    }
    count
}

/// The client's bytes to read; what the server writes back (pongs, close) goes nowhere.
struct Pipe<'a> {
    input: Cursor<&'a [u8]>,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: FIN, `opcode`, masked as clients must.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        f
    }

    #[test]
    fn entry_points_read_what_the_server_reads() {
        assert!(control_text(r#"{"type":"resize","cols":120,"rows":40}"#));
        assert!(!control_text(r#"{"type":"resize","cols":0,"rows":40}"#));
        assert!(!control_text(r#"{"type":"paste"}"#));
        let stream = [
            frame(1, br#"{"type":"ack","offset":1024}"#),
            frame(2, b"ls\r"),
            frame(8, &1000u16.to_be_bytes()),
        ]
        .concat();
        assert_eq!(control_stream(&stream, 1024 * 1024), 3);
        // Over the frame limit: the stream breaks there.
        assert_eq!(control_stream(&frame(2, &[b'x'; 100]), 64), 0);
        let got = query("from=10&mode=ro&x=%2e+a", &["from", "mode", "x", "to"]);
        let want = [Some("10"), Some("ro"), Some(". a"), None];
        assert_eq!(got, want.map(|v| v.map(String::from)));
    }
}
