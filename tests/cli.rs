//! The real binary: help, version, bad settings (exit 2, one line naming the setting), and a
//! service that stops cleanly on SIGTERM and SIGINT.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::TempDir;
use common::spawn::{Running, Spawn};
use nix::sys::signal::Signal;

const BIN: &str = env!("CARGO_BIN_EXE_lanterm");

fn lanterm(args: &[&str], env: &[(&str, &str)]) -> Output {
    env.iter()
        .fold(Spawn::new(BIN).args(args), |cmd, (k, v)| cmd.env(k, v))
        .output()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_every_setting_and_exits_zero() {
    let out = lanterm(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--listen",
        "LANTERM_LISTEN",
        "0.0.0.0:7700",
        "--db",
        "LANTERM_DB",
        "--config",
        "--no-auth",
        "--default-user",
        "--allow-root",
        "LANTERM_LOG",
        "--max-sessions",
        "--history-bytes",
        "8MiB",
        "--store-max-bytes",
        "--flush-interval",
        "--flush-bytes",
        "--store-queue",
        "--stop-grace",
        "--idle-timeout",
    ] {
        assert!(
            help.contains(needle),
            "--help does not mention {needle}:\n{help}"
        );
    }
    let out = lanterm(&["--version"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lanterm "));
}

#[test]
fn bad_settings_exit_2_with_one_line_naming_them() {
    let dir = TempDir::new("cli-bad");
    let cfg = dir.path().join("lanterm.env");
    std::fs::write(&cfg, "# comment\nLANTERM_FLUSH_INTERVAL=soon\n").unwrap();
    let cfg_arg = format!("--config={}", cfg.display());
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["serve", "--max-sessions", "abc"],
            vec![],
            "--max-sessions",
        ),
        (vec!["--max-sessions", "0"], vec![], "--max-sessions"),
        (vec!["--listen", "nowhere"], vec![], "--listen"),
        (vec!["--frobnicate"], vec![], "--frobnicate"),
        (vec!["--db"], vec![], "--db"),
        (
            vec![],
            vec![("LANTERM_HISTORY_BYTES", "lots")],
            "LANTERM_HISTORY_BYTES",
        ),
        (
            vec![],
            vec![("LANTERM_NO_SUCH_THING", "1")],
            "LANTERM_NO_SUCH_THING",
        ),
        (vec![&cfg_arg], vec![], "LANTERM_FLUSH_INTERVAL"),
        (vec!["frobnicate"], vec![], "frobnicate"),
    ];
    for (args, env, names) in cases {
        let out = lanterm(&args, &env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?} {env:?}: {err}");
        assert!(err.contains(names), "{args:?} {env:?}: {err}");
    }
}

/// Starts `lanterm serve` on a temporary database and waits for its ready line.
/// Built with `--no-default-features`: no HTTPS, and the TLS settings say so.
#[cfg(not(feature = "tls"))]
#[test]
fn a_build_without_tls_refuses_the_tls_settings() {
    let args = ["serve", "--tls-cert", "/c.pem", "--tls-key", "/k.pem"];
    let out = lanterm(&args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "lanterm: --tls-cert: this build has no TLS support\n"
    );
}

/// `lanterm serve` on a temporary database, once ready; and its ready line.
fn start_service(dir: &TempDir, extra_env: &[(&str, &str)]) -> (Running, String) {
    let service = extra_env
        .iter()
        .fold(Spawn::serve(BIN).db(&dir.db()), |cmd, (k, v)| cmd.env(k, v))
        .arg("--allow-root")
        .start();
    let log = service.log();
    let ready = log.lines().find(|l| l.contains(" ready on ")).unwrap();
    let ready = ready.to_owned();
    (service, ready)
}

fn stops_cleanly_on(signal: Signal) {
    let dir = TempDir::new("cli-signal");
    let (mut service, _) = start_service(&dir, &[]);
    let sent = Instant::now();
    service.signal(signal);
    let status = service.wait_exit();
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "still running 5 s after {signal}"
    );
    assert_eq!(status.code(), Some(0), "{signal} exit status");
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn sigterm_stops_the_service_cleanly_within_5_seconds() {
    stops_cleanly_on(Signal::SIGTERM);
}

#[test]
fn sigint_stops_the_service_cleanly_within_5_seconds() {
    stops_cleanly_on(Signal::SIGINT);
}
