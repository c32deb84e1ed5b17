//! The attach WebSocket moves bytes exactly: output from any offset, contiguous, unchanged;
//! input unchanged; a reconnect with `from` resumes with no byte twice and none missing, from
//! memory or from the database; every client of a session sees the same bytes.

mod common;
#[path = "common/server.rs"]
mod server;

use common::contains;
use serde_json::json;
use server::{Client, Server, exchange, random_bytes, seq, upgrade_head, ws_connect};
use tokio_tungstenite::tungstenite;

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_arrives_whole_and_unchanged_then_exit_and_close_1000() {
    let s = Server::start(&[]);
    let data = random_bytes(MIB);
    let file = s.dir.path().join("random.bin");
    std::fs::write(&file, &data).unwrap();
    let sid = s.run(&format!("stty raw -echo; cat {}", file.display()));
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    assert_eq!(c.offset(), 0);
    assert_eq!(c.attached["session"]["id"], sid.as_str());
    assert_eq!(c.attached["session"]["cwd"], "/");
    assert_eq!(c.closed().await, Some(1000), "normal close after the exit");
    assert!(
        c.bytes == data,
        "{} bytes, not the file's {}",
        c.bytes.len(),
        data.len()
    );
    assert_eq!(c.texts.len(), 1, "only the exit frame: {:?}", c.texts);
    let exit = &c.texts[0];
    assert_eq!(exit["type"], "exit");
    assert_eq!(exit["session"]["id"], sid.as_str());
    assert_eq!(exit["session"]["status"], "completed", "{exit}");
    assert_eq!(exit["session"]["exit_code"], 0, "{exit}");
    assert_eq!(exit["session"]["output_bytes"], MIB as u64, "{exit}");

    // Attaching later still replays the stored output and says how it ended.
    let mut late = Client::attach(&s.addr, &sid, "from=1000").await;
    assert_eq!(late.offset(), 1000);
    assert_eq!(late.closed().await, Some(1000));
    assert!(late.bytes == data[1000..], "{} bytes", late.bytes.len());
    assert_eq!(late.text("exit").await["session"]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_input_reaches_the_process_byte_for_byte() {
    let s = Server::start(&[]);
    let data = random_bytes(MIB);
    let file = s.dir.path().join("typed.bin");
    let sid = s.run(&format!(
        "stty raw -echo; printf R; head -c {MIB} > {}",
        file.display()
    ));
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.read_len(1).await; // the terminal is raw from here on
    for piece in data.chunks(16 * 1024) {
        c.send_bytes(piece).await;
    }
    assert_eq!(c.closed().await, Some(1000));
    assert_eq!(c.bytes, b"R", "nothing echoed");
    assert_eq!(c.text("exit").await["session"]["status"], "completed");
    let written = std::fs::read(&file).unwrap();
    assert!(
        written == data,
        "{} bytes written of {}",
        written.len(),
        data.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_from_an_offset_resumes_exactly_from_memory() {
    let s = Server::start(&[]);
    let expected = seq(10_000); // under the 64 KiB ring
    let sid = s.run("stty raw -echo; seq 1 10000; sleep 600");
    let mut first = Client::attach(&s.addr, &sid, "from=0").await;
    first.read_len(20_000).await;
    drop(first);
    for k in [20_000usize, 1, 33_333, expected.len()] {
        let mut again = Client::attach(&s.addr, &sid, &format!("from={k}")).await;
        assert_eq!(again.offset(), k as u64);
        again.read_len(expected.len() - k).await;
        assert!(again.quiet(std::time::Duration::from_millis(200)).await);
        let mut whole = expected[..k].to_vec();
        whole.extend_from_slice(&again.bytes);
        assert!(whole == expected, "resume at {k}: {} bytes", whole.len());
        assert!(again.texts.is_empty(), "{:?}", again.texts);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_far_behind_resumes_exactly_from_the_store() {
    let s = Server::start(&[]);
    let expected = seq(700_000); // about 4.8 MB, far beyond the 64 KiB ring
    assert!(expected.len() > 4 * MIB);
    let sid = s.run("stty raw -echo; seq 1 700000; read x");
    let mut first = Client::attach(&s.addr, &sid, "from=0").await;
    let mut observer = Client::attach(&s.addr, &sid, "from=0").await;
    first.read_len(100_000).await;
    let k = first.bytes.len();
    drop(first);
    // Once everything is produced, the old part is only in the store.
    observer.read_len(expected.len()).await;
    assert!(
        observer.bytes == expected,
        "the observer saw {} bytes",
        observer.bytes.len()
    );
    let mut again = Client::attach(&s.addr, &sid, &format!("from={k}")).await;
    assert_eq!(again.offset(), k as u64);
    again.read_len(expected.len() - k).await;
    assert!(again.texts.is_empty(), "no gap: {:?}", again.texts);
    let mut whole = expected[..k].to_vec();
    whole.extend_from_slice(&again.bytes);
    assert!(whole == expected, "resume at {k}: {} bytes", whole.len());
    // The session then ends: both clients hear it, with nothing more on the wire.
    again.send_bytes(b"\n").await;
    assert_eq!(again.closed().await, Some(1000));
    assert_eq!(observer.closed().await, Some(1000));
    assert_eq!(again.bytes.len(), expected.len() - k);
    assert_eq!(observer.bytes.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_of_one_session_see_identical_bytes() {
    let s = Server::start(&[]);
    let sid = s.run("stty raw -echo; printf R; read x; seq 1 50000");
    let mut a = Client::attach(&s.addr, &sid, "").await;
    let mut b = Client::attach(&s.addr, &sid, "").await;
    assert_eq!(s.session(&sid)["clients"], 2);
    a.read_len(1).await;
    b.read_len(1).await;
    a.send_json(json!({"type": "input", "data": "go\n"})).await;
    assert_eq!(a.closed().await, Some(1000));
    assert_eq!(b.closed().await, Some(1000));
    let mut expected = b"R".to_vec();
    expected.extend_from_slice(&seq(50_000));
    assert!(a.bytes == expected, "a: {} bytes", a.bytes.len());
    assert!(b.bytes == a.bytes, "b: {} bytes", b.bytes.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_refusals_are_http_errors_before_the_upgrade() {
    let s = Server::start(&[]);
    let sid = s.run("printf hello; sleep 600");
    let mut c = Client::attach(&s.addr, &sid, "from=0").await;
    c.read_contains("hello").await;
    let attach = |query: &str| {
        let path = format!("/api/sessions/{sid}/attach?{query}");
        exchange(&s.addr, &upgrade_head(&s.addr, &path), b"")
    };
    attach("from=abc").assert_error(400, "bad_request");
    attach("mode=rx").assert_error(400, "bad_request");
    let path = "/api/sessions/AAAAAAAAAAAAAAAAA/attach";
    exchange(&s.addr, &upgrade_head(&s.addr, path), b"").assert_error(404, "not_found");
    // A WebSocket client sees the refusal as the HTTP status.
    match ws_connect(&s.addr, "/api/sessions/AAAAAAAAAAAAAAAAA/attach").await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 404),
        Err(e) => panic!("expected 404, got {e}"),
        Ok(_) => panic!("an attach to no session was accepted"),
    }
    // At the end exactly, or beyond it (a client holding output the service never stored):
    // the stream starts at the end and `attached` says so; nothing yet, then what comes.
    for from in ["from=5", "from=6", "from=1000000"] {
        let mut end = Client::attach(&s.addr, &sid, from).await;
        assert_eq!(end.offset(), 5, "{from}");
        assert!(end.quiet(std::time::Duration::from_millis(200)).await);
        assert!(end.bytes.is_empty());
    }
    assert!(contains(&c.bytes, "hello"));
}
