//! Tests of [`Config::load`] end to end (defaults, precedence, flags, the db default) and of
//! [`help_text`], plus the helpers the other files' tests share.

use super::settings::secs;
use super::values::{GIB, KIB, MIB};
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(super) fn load_as(args: &[&str], env: &[(&str, &str)], euid: u32) -> Result<Config, String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env = env.iter().map(|&(k, v)| (k.into(), v.into())).collect();
    Config::load(&args, &env, euid).map_err(|e| e.to_string())
}

/// Loads as an ordinary user with HOME=/home/pi added to `env`.
pub(super) fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
    load_as(args, &[env, &[("HOME", "/home/pi")]].concat(), 1000)
}

/// Loads, expecting an error; checks it is one line starting with `start`.
pub(super) fn fails(args: &[&str], env: &[(&str, &str)], start: &str) -> String {
    let e = load(args, env).expect_err(start);
    assert!(e.starts_with(start) && !e.contains('\n'), "{e:?}");
    e
}

/// The settings the precedence test varies, in one line.
fn summary(c: &Config) -> String {
    let listen: Vec<String> = c.listen.iter().map(Listen::to_string).collect();
    let (n, auth, flush) = (c.max_sessions, c.no_auth, c.flush_interval);
    format!("{n} {auth} {flush:?} {}", listen.join(","))
}

/// Writes `text` to a fresh temp file and returns its path.
pub(super) fn temp_file(text: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!("lanterm-{}-{n}.env", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn defaults() {
    // Variables of other programs, and LANTERM_* variables that are not settings, are ignored.
    let env = [
        ("PATH", "/bin"),
        ("TERM", "xterm"),
        ("LANTERM_SESSION", "x"),
        ("LANTERM_URL", "u"),
    ];
    let c = load(&[], &env).unwrap();
    assert_eq!(c.listen[..], [Listen::Tcp("0.0.0.0:7700".parse().unwrap())]);
    assert_eq!(c.db, Path::new("/home/pi/.local/state/lanterm/lanterm.db"));
    assert_eq!((c.config_file, c.default_user), (None, None));
    assert_eq!((c.no_auth, c.allow_root), (false, false));
    assert_eq!(c.log, LevelFilter::Info);
    assert_eq!((c.max_sessions, c.store_queue), (32, 4 * MIB));
    assert_eq!((c.history_bytes, c.store_max_bytes), (8 * MIB, 256 * MIB));
    assert_eq!((c.flush_bytes, c.flush_interval), (256 * KIB, secs(5)));
    assert_eq!((c.compress, c.retention), (true, Some(secs(30 * 86400))));
    assert_eq!((c.stop_grace, c.idle_timeout), (secs(5), None));
    assert!(c.allowed_origins.is_empty());
    assert_eq!(c.allowed_users, ["@login"]);
    assert_eq!((c.login_attempts, c.login_window), (10, secs(900)));
    assert_eq!((c.token_lifetime, c.max_tokens), (secs(30 * 86400), 64));
    assert_eq!((c.tls_cert, c.tls_key), (None, None));
}

#[test]
fn origins_users_and_tls_pairs() {
    let args = [
        "--allowed-origin",
        "https://Pi.Example:8443, http://[::1]:7700",
    ];
    let c = load(&args, &[]).unwrap();
    assert_eq!(
        c.allowed_origins,
        ["https://pi.example:8443", "http://[::1]:7700"]
    );
    let c = load(&["--allowed-users", "pi, @login"], &[]).unwrap();
    assert_eq!(c.allowed_users, ["pi", "@login"]);
    fails(
        &["--tls-cert", "/c.pem"],
        &[],
        "lanterm: --tls-cert: needs --tls-key",
    );
    fails(
        &["--tls-key", "/k.pem"],
        &[],
        "lanterm: --tls-key: needs --tls-cert",
    );
    let both = ["--tls-cert", "/c.pem", "--tls-key", "/k.pem"];
    if cfg!(feature = "tls") {
        let c = load(&both, &[]).unwrap();
        assert_eq!(c.tls_key.as_deref(), Some(Path::new("/k.pem")));
    } else {
        let no_tls = "lanterm: --tls-cert: this build has no TLS support";
        fails(&both, &[], no_tls);
    }
}

#[test]
fn precedence() {
    let text = "LANTERM_MAX_SESSIONS=10\nLANTERM_NO_AUTH=yes\nLANTERM_FLUSH_INTERVAL=2s\n";
    let file = temp_file(&format!("{text}LANTERM_LISTEN=1.1.1.1:1, unix:/a\n"));
    let c = load(&["--config", &file], &[]).unwrap();
    assert_eq!(c.config_file.as_deref(), Some(Path::new(&file)));
    assert_eq!(summary(&c), "10 true 2s 1.1.1.1:1,unix:/a");
    let env = [
        ("LANTERM_MAX_SESSIONS", "20"),
        ("LANTERM_NO_AUTH", "Off"),
        ("LANTERM_FLUSH_INTERVAL", "3s"),
        ("LANTERM_LISTEN", "2.2.2.2:2"),
        ("LANTERM_CONFIG", &file),
    ];
    assert_eq!(summary(&load(&[], &env).unwrap()), "20 false 3s 2.2.2.2:2");
    let args =
        "--max-sessions 30 --no-auth --flush-interval=4s --listen [::1]:3 --listen=localhost:4";
    let args: Vec<&str> = args.split(' ').collect();
    let c = load(&args, &env).unwrap();
    assert_eq!(summary(&c), "30 true 4s [::1]:3,127.0.0.1:4");
    let c = load(&args[..4], &[]).unwrap();
    assert_eq!(summary(&c), "30 true 4s 0.0.0.0:7700");
    let c = load(&["--config", &file, "--no-auth=false"], &[]).unwrap();
    assert!(!c.no_auth);
    // --config wins over LANTERM_CONFIG, which is then not read at all.
    assert!(load(&["--config", &file], &[("LANTERM_CONFIG", "/nonexistent")]).is_ok());
    std::fs::remove_file(file).unwrap();
}

#[test]
fn argument_errors() {
    let cases = "--frobnicate 1|lanterm: unknown flag \"--frobnicate\"
        --max-sessions|lanterm: --max-sessions: missing value (--max-sessions N)
        --listen --no-auth|lanterm: --listen: missing value
        serve|lanterm: unexpected argument \"serve\"
        --no-auth=maybe|lanterm: --no-auth: \"maybe\" is not a boolean (1/0, true/";
    for case in cases.lines() {
        let (args, start) = case.trim().split_once('|').unwrap();
        fails(&args.split(' ').collect::<Vec<_>>(), &[], start);
    }
    let e = "lanterm: LANTERM_BOGUS: unknown environment variable";
    fails(&[], &[("LANTERM_BOGUS", "1")], e);
    let e = "lanterm: LANTERM_DEFAULT_USER: \"a\\nb\" is not a user name";
    fails(&[], &[("LANTERM_DEFAULT_USER", "a\nb")], e);
}

#[test]
fn good_values() {
    let args = "--idle-timeout=30d --stop-grace 0 --history-bytes 1gb --log=OFF";
    let c = load(&args.split(' ').collect::<Vec<_>>(), &[]).unwrap();
    assert_eq!(c.idle_timeout, Some(secs(30 * 86400)));
    assert_eq!(c.stop_grace, Duration::ZERO);
    assert_eq!((c.history_bytes, c.log), (GIB, LevelFilter::Off));
    let args = ["--listen", "unix:/run/lanterm.sock", "--default-user", "pi"];
    let c = load(&args, &[]).unwrap();
    assert_eq!(c.listen[0].to_string(), "unix:/run/lanterm.sock");
    assert_eq!(c.default_user.as_deref(), Some("pi"));
}

#[test]
fn db_default() {
    let root = load_as(&[], &[("HOME", "/root")], 0).unwrap();
    assert_eq!(root.db, Path::new("/var/lib/lanterm/lanterm.db"));
    let xdg = load(&[], &[("XDG_STATE_HOME", "/st")]).unwrap();
    assert_eq!(xdg.db, Path::new("/st/lanterm/lanterm.db"));
    let home = load(&[], &[("XDG_STATE_HOME", "relative")]).unwrap().db;
    assert_eq!(home, Path::new("/home/pi/.local/state/lanterm/lanterm.db"));
    let e = load_as(&[], &[("HOME", "relative")], 1000).unwrap_err();
    assert!(e.starts_with("lanterm: --db: "), "{e}");
    let given = load_as(&["--db=/d.db"], &[], 1000).unwrap().db;
    assert_eq!(given, Path::new("/d.db"));
}

#[test]
fn help_lists_everything() {
    let help = help_text();
    let usage = "lanterm - a persistent web terminal for headless boards\n\nUsage:\n";
    assert!(help.starts_with(usage));
    for s in SETTINGS {
        let start = format!("  {} ", flag_column(s));
        let line = help
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_default();
        let default = s.default.unwrap_or("-");
        assert!(line.contains(s.env) && line.contains(default), "{line}");
    }
    assert!(help.contains(" 8MiB ") && help.contains("(64KiB..=1GiB)"));
    assert!(help.contains("\nPrecedence: flag > environment variable > config file"));
    for line in help.lines().filter(|l| !l.starts_with("Precedence:")) {
        assert!(line.len() <= 100, "too long: {line}");
    }
}

#[test]
fn connection_slots_and_their_reserve() {
    let c = load(&[], &[]).unwrap();
    assert_eq!(
        (c.max_connections, c.max_connections_per_address),
        (256, 32)
    );
    assert_eq!(
        (c.max_connections_per_net, c.reserved_connections()),
        (64, 32)
    );
    let c = load(&["--max-connections", "4"], &[]).unwrap();
    assert_eq!(c.reserved_connections(), 0, "an eighth, rounded down");
    let c = load(
        &["--reserved-conns", "3"],
        &[("LANTERM_MAX_CONNECTIONS", "4")],
    )
    .unwrap();
    assert_eq!(c.reserved_connections(), 3);
    let e = fails(
        &["--max-connections", "4", "--reserved-conns", "4"],
        &[],
        "lanterm: ",
    );
    assert!(
        e.contains("--reserved-conns: 4 leaves no connection"),
        "{e}"
    );
}
