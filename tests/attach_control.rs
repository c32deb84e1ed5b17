//! The attach WebSocket's control messages: resize (seen by the other clients and by the
//! terminal), read-only clients, unreadable messages, the frame size limit, and ack-based flow
//! control that keeps a slow client within its window without slowing anyone else.

mod common;
#[path = "common/server.rs"]
mod server;

use std::time::Duration;

use common::contains;
use serde_json::json;
use server::{Client, Server};

/// Long enough for a frame the server would send to arrive on loopback.
const QUIET: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_reaches_the_other_clients_and_the_terminal() {
    let s = Server::start(&[]);
    let sid = s.run("read x; stty size; sleep 600");
    let mut a = Client::attach(&s.addr, &sid, "from=0").await;
    let mut b = Client::attach(&s.addr, &sid, "from=0").await;
    assert_eq!(b.attached["session"]["cols"], 80);
    a.send_json(json!({"type": "resize", "cols": 100, "rows": 30}))
        .await;
    let resized = b.text("resized").await;
    assert_eq!(resized, json!({"type": "resized", "cols": 100, "rows": 30}));
    let session = s.session(&sid);
    assert_eq!(
        (session["cols"].clone(), session["rows"].clone()),
        (json!(100), json!(30))
    );
    a.send_json(json!({"type": "input", "data": "\n"})).await;
    b.read_contains("30 100").await;
    a.read_contains("30 100").await;
    // Out of range: an error frame to the sender, nothing changes.
    a.send_json(json!({"type": "resize", "cols": 0, "rows": 30}))
        .await;
    assert!(a.text("error").await["message"].is_string());
    assert_eq!(s.session(&sid)["cols"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redraw_makes_the_program_repaint_without_changing_the_size() {
    let s = Server::start(&[]);
    let sid = s.run("trap 'echo winch-$(stty size | tr \" \" x)' WINCH; echo ready; while :; do sleep 0.05; done");
    // A read-only viewer may ask for a repaint too: it changes nothing but the picture.
    let mut viewer = Client::attach(&s.addr, &sid, "from=0&mode=ro").await;
    viewer.read_contains("ready").await;
    viewer.send_json(json!({"type": "redraw"})).await;
    viewer.read_contains("winch-24x80").await;
    assert_eq!(s.session(&sid)["rows"], 24);
    assert!(
        viewer.texts.iter().all(|t| t["type"] != "resized"),
        "a redraw is not a resize: {:?}",
        viewer.texts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_clients_see_output_but_cannot_type_or_resize() {
    let s = Server::start(&[]);
    let file = s.dir.path().join("typed.txt");
    let sid = s.run(&format!("cat > {}", file.display()));
    let mut ro = Client::attach(&s.addr, &sid, "from=0&mode=ro").await;
    let mut rw = Client::attach(&s.addr, &sid, "from=0").await;
    ro.send_bytes(b"typed-ro\n").await;
    ro.send_json(json!({"type": "input", "data": "json-ro\n"}))
        .await;
    ro.send_json(json!({"type": "resize", "cols": 50, "rows": 20}))
        .await;
    // An error frame to a later message: the reader has handled the ones before it.
    ro.send_json(json!({"type": "bogus"})).await;
    ro.text("error").await;
    rw.send_bytes(b"marker\n").await;
    ro.read_contains("marker").await; // the terminal's echo, seen read-only
    assert!(
        !contains(&ro.bytes, "-ro"),
        "{:?}",
        String::from_utf8_lossy(&ro.bytes)
    );
    assert!(
        ro.texts.iter().all(|t| t["type"] != "resized"),
        "{:?}",
        ro.texts
    );
    assert_eq!(s.session(&sid)["cols"], 80);
    // The process got only the read-write client's line.
    rw.send_bytes(b"\x04").await; // end of file for cat
    assert_eq!(rw.closed().await, Some(1000));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "marker\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_message_gets_an_error_frame_and_the_socket_stays_usable() {
    let s = Server::start(&[]);
    let sid = s.run("cat");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    for bad in [r#"{"type":"bogus"}"#, "not json", r#"{"type":"input"}"#] {
        c.send_text(bad).await;
        let e = c.text("error").await;
        assert!(
            e["code"].is_string() && e["message"].is_string(),
            "{bad}: {e}"
        );
    }
    c.send_json(json!({"type": "input", "data": "still-here\n"}))
        .await;
    c.read_contains("still-here").await;
    c.send_bytes(b"binary-too\n").await;
    c.read_contains("binary-too").await;
    assert!(!c.ended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_max_frame_ends_that_client_only() {
    let s = Server::start(&["--max-frame", "4KiB"]);
    let sid = s.run("cat");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    let line = format!("{}\n", "a".repeat(1000));
    c.send_bytes(line.as_bytes()).await; // within the limit: fine
    c.read_contains(&line[..1000]).await;
    c.send_bytes(&[b'b'; 8 * 1024]).await;
    c.closed().await;
    assert_eq!(s.session(&sid)["status"], "running");
    let mut again = Client::attach(&s.addr, &sid, "").await;
    again.send_bytes(b"next\n").await;
    again.read_contains("next").await;
    assert!(
        !contains(&again.bytes, "bbbb"),
        "the big frame was not typed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_max_frame_closes_with_1009() {
    let s = Server::start(&["--max-frame", "4KiB"]);
    let sid = s.run("cat");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.send_bytes(&[b'b'; 8 * 1024]).await;
    assert_eq!(c.closed().await, Some(1009), "error: {:?}", c.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_keep_a_client_within_its_window() {
    const WINDOW: usize = 64 * 1024;
    const TOTAL: usize = 1024 * 1024;
    let s = Server::start(&["--ack-window", "64KiB"]);
    let sid = s.run(&format!(
        "stty raw -echo; printf R; read x; head -c {TOTAL} /dev/zero; sleep 600"
    ));
    let mut slow = Client::attach(&s.addr, &sid, "from=0").await;
    let mut fast = Client::attach(&s.addr, &sid, "from=0").await;
    slow.read_len(1).await;
    slow.send_json(json!({"type": "ack", "offset": 1})).await;
    slow.send_bytes(b"go\n").await;
    // Everything is produced (a client without acks gets it all) ...
    fast.read_len(1 + TOTAL).await;
    assert_eq!(fast.bytes.len(), 1 + TOTAL);
    // ... but the acking client gets exactly a window beyond its ack, then nothing.
    slow.read_len(1 + WINDOW).await;
    assert!(slow.quiet(QUIET).await, "more after the window");
    assert_eq!(slow.bytes.len(), 1 + WINDOW);
    // Acking part of it opens the window that far.
    slow.send_json(json!({"type": "ack", "offset": 1 + WINDOW / 2}))
        .await;
    slow.read_len(1 + WINDOW + WINDOW / 2).await;
    assert!(slow.quiet(QUIET).await, "more after the window");
    assert_eq!(slow.bytes.len(), 1 + WINDOW + WINDOW / 2);
    // An older ack changes nothing.
    slow.send_json(json!({"type": "ack", "offset": 1})).await;
    assert!(slow.quiet(QUIET).await);
    // Acking everything lets the rest through, identical to what the other client saw.
    slow.send_json(json!({"type": "ack", "offset": 1 + TOTAL}))
        .await;
    slow.read_len(1 + TOTAL).await;
    assert!(slow.bytes == fast.bytes);
    assert!(slow.texts.is_empty(), "no gap: {:?}", slow.texts);
}
