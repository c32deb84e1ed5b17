//! The session engine end to end: real PTYs, real processes, a real SQLite file.

mod common;

use common::*;
use lanterm::engine::CreateRequest;
use lanterm::engine::Event;
use lanterm::model::error::Code;
use lanterm::model::record::Status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_byte_exact_from_ring_and_store() {
    let dir = TempDir::new("exact");
    let m = engine(&dir.db(), &[]);
    // 1 MiB where every byte value occurs 4096 times, in a scrambled order: far more than the
    // ring holds, so the start must come back from the store.
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = dir.path().join("bytes");
    std::fs::write(&file, &data).unwrap();
    let info = m
        .create(command(&format!("stty raw -echo; cat {}", file.display())))
        .await
        .unwrap();
    let end = wait_exit(&m, info.id.as_str()).await;
    assert_eq!(end.status, Status::Completed);
    assert_eq!(end.output_bytes, data.len() as u64);
    let session = m.session(info.id.as_str()).unwrap();
    let got = read_all(&m, &session).await;
    assert_eq!(got.len(), data.len());
    assert!(got == data, "output differs from the bytes written");
    // Also from the middle, across a chunk boundary, straight from the store.
    let stored = m
        .store()
        .read_output(end.seq, 65_000, 10_000)
        .await
        .unwrap();
    assert_eq!(stored.start, 65_000);
    assert_eq!(stored.data, &data[65_000..75_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_signals_are_recorded() {
    let dir = TempDir::new("exit");
    let m = engine(&dir.db(), &[]);
    let cases = [
        ("true", Status::Completed, Some(0), None),
        ("exit 3", Status::Failed, Some(3), None),
        ("kill -TERM $$", Status::Failed, None, Some("TERM")),
    ];
    for (cmd, status, code, signal) in cases {
        let info = m.create(command(cmd)).await.unwrap();
        let end = wait_exit(&m, info.id.as_str()).await;
        assert_eq!(end.status, status, "{cmd}");
        assert_eq!(end.exit_code, code, "{cmd}");
        assert_eq!(end.exit_signal.as_deref(), signal, "{cmd}");
        assert!(end.ended_at.is_some(), "{cmd}");
    }
    // A stop request makes it `stopped`, whatever the signal did.
    let mut events = m.subscribe();
    let info = m.create(command("sleep 100")).await.unwrap();
    m.stop(info.id.as_str(), None).unwrap();
    let end = wait_exit(&m, info.id.as_str()).await;
    assert_eq!(end.status, Status::Stopped);
    assert_eq!(end.exit_signal.as_deref(), Some("HUP"));
    // What ended is on disk too: a new engine on the same file sees the same records. The
    // final record is queued for the store by the time the exit is announced (a moment after
    // the session shows as ended); a clean stop then commits it and lets go of the database
    // (one service per database: the lock goes with the store).
    next_event(
        &mut events,
        |e| matches!(e, Event::Exited(i) if i.id == info.id),
    )
    .await;
    m.shutdown().await;
    drop(m);
    let m2 = engine(&dir.db(), &[]);
    let list = m2.list(None);
    assert_eq!(list.len(), 4);
    assert_eq!(list[0].status, Status::Stopped, "newest first");
    assert_eq!(list[2].exit_code, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_reaches_the_program_and_login_shell_environment_is_set() {
    let dir = TempDir::new("input");
    let m = engine(&dir.db(), &[]);
    let mut req = command("read line; echo \"got=$line term=$TERM user=$USER home=$HOME\"");
    req.env = Some([("EXTRA".to_string(), "1".to_string())].into());
    let info = m.create(req).await.unwrap();
    let id = info.id.as_str();
    m.input(id, b"hello\r").await.unwrap();
    let end = wait_exit(&m, id).await;
    assert_eq!(end.status, Status::Completed);
    assert!(
        end.last_output_at.is_some_and(|t| t >= end.created_at),
        "{end:?}"
    );
    let out = read_all(&m, &m.session(id).unwrap()).await;
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap();
    let want = format!(
        "got=hello term=xterm-256color user={} home={}",
        me.name,
        me.dir.display()
    );
    assert!(contains(&out, &want), "{:?}", String::from_utf8_lossy(&out));
    // Input to an ended session is a conflict, not a hang.
    assert_eq!(m.input(id, b"x").await.unwrap_err().code, Code::Conflict);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_is_seen_by_the_program() {
    let dir = TempDir::new("resize");
    let m = engine(&dir.db(), &[]);
    let mut req = command("trap 'stty size' WINCH; stty size; while :; do sleep 0.05; done");
    req.cols = Some(80);
    req.rows = Some(24);
    let info = m.create(req).await.unwrap();
    let id = info.id.as_str();
    let session = m.session(id).unwrap();
    read_until(&m, &session, 0, |o| contains(o, "24 80")).await;
    let resized = m.resize(id, 132, 43).await.unwrap();
    assert_eq!((resized.cols, resized.rows), (132, 43));
    read_until(&m, &session, 0, |o| contains(o, "43 132")).await;
    for (c, r) in [(0, 10), (10, 1001), (-5, 5)] {
        assert_eq!(m.resize(id, c, r).await.unwrap_err().code, Code::BadRequest);
    }
    m.stop(id, Some(nix::sys::signal::Signal::SIGKILL)).unwrap();
    assert_eq!(wait_exit(&m, id).await.exit_signal.as_deref(), Some("KILL"));
}

fn process_state(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let pgrp = f.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_grandchildren_in_other_process_groups() {
    let dir = TempDir::new("stop");
    let m = engine(&dir.db(), &["--stop-grace", "300ms"]);
    // Job control puts the background sleep in a process group of its own; both it and the
    // shell ignore HUP and TERM, so only the SIGKILL after the grace period ends them.
    let info = m
        .create(command(
            "set -m; trap '' HUP TERM; sleep 300 & echo \"child=$!.\"; wait",
        ))
        .await
        .unwrap();
    let id = info.id.as_str();
    let out = read_until(&m, &m.session(id).unwrap(), 0, |o| contains(o, ".")).await;
    let text = String::from_utf8_lossy(&out);
    let child: i32 = text
        .split("child=")
        .nth(1)
        .and_then(|s| s.split('.').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no child pid in {text:?}"));
    let (state, pgrp) = process_state(child).expect("grandchild is running");
    assert_ne!(state, 'Z');
    assert_ne!(
        pgrp,
        info.pid.unwrap(),
        "the grandchild must be in another process group"
    );
    m.stop(id, None).unwrap();
    let end = wait_exit(&m, id).await;
    assert_eq!(end.status, Status::Stopped);
    assert_eq!(end.exit_signal.as_deref(), Some("KILL"));
    // The grandchild is gone (or a zombie waiting for init to reap it), soon after the grace.
    let state = async || process_state(child);
    let gone = |s: &Option<(char, i32)>| s.is_none_or(|(s, _)| s == 'Z');
    poll_until_async(TIMEOUT, "the grandchild killed", state, gone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_validated() {
    let dir = TempDir::new("validate");
    let m = engine(&dir.db(), &[]);
    let bad = [
        CreateRequest {
            cwd: Some("/no/such/dir".into()),
            ..command("true")
        },
        CreateRequest {
            cwd: Some("relative".into()),
            ..command("true")
        },
        CreateRequest {
            cols: Some(0),
            ..command("true")
        },
        CreateRequest {
            rows: Some(1001),
            ..command("true")
        },
        CreateRequest {
            name: Some("n".repeat(129)),
            ..command("true")
        },
        CreateRequest {
            user: Some("no-such-user-here".into()),
            ..command("true")
        },
        command(""),
    ];
    for req in bad {
        let shown = format!("{req:?}");
        let err = m.create(req).await.unwrap_err();
        assert_eq!(err.code, Code::BadRequest, "{shown}: {err}");
    }
    assert!(m.list(None).is_empty(), "nothing was created");
    assert_eq!(m.get("nope").unwrap_err().code, Code::NotFound);
    assert_eq!(m.get("AAAAAAAAAAAAAAAAA").unwrap_err().code, Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_is_enforced_and_freed_on_exit() {
    let dir = TempDir::new("limit");
    let m = engine(&dir.db(), &["--max-sessions", "2"]);
    let a = m.create(command("sleep 100")).await.unwrap();
    let _b = m.create(command("sleep 100")).await.unwrap();
    let err = m.create(command("sleep 100")).await.unwrap_err();
    assert_eq!(err.code, Code::LimitReached);
    m.stop(a.id.as_str(), None).unwrap();
    wait_exit(&m, a.id.as_str()).await;
    // The slot is given back just after the session shows as ended.
    let create = async || m.create(command("sleep 100")).await.map(drop);
    let created = poll_until_async(TIMEOUT, "a slot free again", create, Result::is_ok);
    created.await.expect("a slot is free again");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_the_life_of_a_session() {
    let dir = TempDir::new("events");
    let m = engine(&dir.db(), &[]);
    let mut rx = m.subscribe();
    let info = m.create(command("read x")).await.unwrap();
    let id = info.id.clone();
    next_event(&mut rx, |e| matches!(e, Event::Created(i) if i.id == id)).await;
    m.rename(id.as_str(), "renamed").await.unwrap();
    next_event(
        &mut rx,
        |e| matches!(e, Event::Updated(i) if i.name == "renamed"),
    )
    .await;
    let guard = m.attach(id.as_str(), 16).unwrap();
    next_event(
        &mut rx,
        |e| matches!(e, Event::Updated(i) if i.clients == 1),
    )
    .await;
    drop(guard);
    next_event(
        &mut rx,
        |e| matches!(e, Event::Updated(i) if i.clients == 0),
    )
    .await;
    m.input(id.as_str(), b"\r").await.unwrap();
    let ev = next_event(&mut rx, |e| matches!(e, Event::Exited(_))).await;
    assert!(matches!(ev, Event::Exited(i) if i.status == Status::Completed && i.name == "renamed"));
    m.delete(id.as_str()).await.unwrap();
    next_event(&mut rx, |e| matches!(e, Event::Deleted(d) if *d == id)).await;
    assert_eq!(m.get(id.as_str()).unwrap_err().code, Code::NotFound);
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM output", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "deleting a session deletes its output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_stopped_when_the_limit_is_set() {
    let dir = TempDir::new("idle");
    let m = engine(&dir.db(), &["--idle-timeout", "1s"]);
    let mut rx = m.subscribe();
    let idle = m.create(command("sleep 100")).await.unwrap();
    let watched = m.create(command("sleep 100")).await.unwrap();
    let _viewer = m.attach(watched.id.as_str(), 16).unwrap();
    let ev = next_event(&mut rx, |e| matches!(e, Event::Exited(_))).await;
    assert!(matches!(&ev, Event::Exited(i) if i.id == idle.id && i.status == Status::Stopped));
    assert!(
        m.get(watched.id.as_str()).unwrap().status.is_running(),
        "an attached session stays"
    );
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_commits_pending_output_and_records_the_stop() {
    let dir = TempDir::new("shutdown");
    // A flush interval far longer than the test: only the shutdown can commit the output.
    let m = engine(
        &dir.db(),
        &["--flush-interval", "1h", "--flush-bytes", "64MiB"],
    );
    let info = m
        .create(command("echo ready-to-go; sleep 100"))
        .await
        .unwrap();
    let session = m.session(info.id.as_str()).unwrap();
    read_until(&m, &session, 0, |o| contains(o, "ready-to-go")).await;
    m.shutdown().await;
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let (status, out): (String, Vec<u8>) = conn
        .query_row(
            "SELECT status, data, raw_len FROM sessions JOIN output ON session = seq",
            [],
            |r| Ok((r.get(0)?, decode_chunk(r.get(1)?, r.get(2)?))),
        )
        .unwrap();
    assert_eq!(status, "stopped");
    assert!(
        contains(&out, "ready-to-go"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}
