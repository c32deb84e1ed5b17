//! The settings table: every setting's flag, `LANTERM_*` name, value kind, default and help,
//! and how one raw value of a kind is checked (syntax, range) and stored into a [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use super::values::{
    GIB, KIB, MIB, fmt_duration, fmt_size, parse_bool, parse_duration, parse_listen, parse_origin,
    parse_path, parse_size, parse_user,
};
use super::{Config, Res};

pub(super) const CONFIG_ENV: &str = "LANTERM_CONFIG";

type Set<T> = fn(&mut Config, T);

/// What a setting's value is, its accepted range, and where it is stored.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Listen,
    Path(Set<PathBuf>),
    Bool(Set<bool>),
    User(Set<String>),
    Level(Set<LevelFilter>),
    Count(u64, u64, Set<u64>),
    Size(u64, u64, Set<u64>),
    Time(Duration, Duration, Set<Duration>),
    /// Like `Time`, but 0 means off (`None`).
    OptTime(Duration, Duration, Set<Option<Duration>>),
    /// Octal permission bits.
    Mode(Set<u32>),
    /// Comma-separated origins (`scheme://host[:port]`); empty for none.
    Origins(Set<Vec<String>>),
    /// Comma-separated user names, or `@login` for every regular login user.
    Users(Set<Vec<String>>),
}

/// One setting: `--flag`, `LANTERM_*` name, value kind, default and help.
pub(super) struct Setting {
    pub(super) flag: &'static str,
    pub(super) env: &'static str,
    pub(super) kind: Kind,
    /// Applied like any other value, and shown in help; `None`: no value (or computed).
    pub(super) default: Option<&'static str>,
    pub(super) help: &'static str,
}

pub(super) const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[rustfmt::skip]
pub(super) static SETTINGS: &[Setting] = &[
    Setting { flag: "listen", env: "LANTERM_LISTEN", kind: Kind::Listen,
        default: Some("0.0.0.0:7700"), help: "addresses to serve (repeatable)" },
    Setting { flag: "db", env: "LANTERM_DB", kind: Kind::Path(|c, v| c.db = v),
        default: None, help: "database file (default: see below)" },
    Setting { flag: "config", env: CONFIG_ENV, kind: Kind::Path(|c, v| c.config_file = Some(v)),
        default: None, help: "environment file of LANTERM_* lines" },
    Setting { flag: "no-auth", env: "LANTERM_NO_AUTH", kind: Kind::Bool(|c, v| c.no_auth = v),
        default: Some("off"), help: "no login at all (trusted LANs only)" },
    Setting { flag: "default-user", env: "LANTERM_DEFAULT_USER",
        kind: Kind::User(|c, v| c.default_user = Some(v)), default: None, help: "default login user" },
    Setting { flag: "allow-root", env: "LANTERM_ALLOW_ROOT", kind: Kind::Bool(|c, v| c.allow_root = v),
        default: Some("off"), help: "allow sessions as root" },
    Setting { flag: "log", env: "LANTERM_LOG", kind: Kind::Level(|c, v| c.log = v),
        default: Some("info"), help: "off, error, warn, info, debug or trace" },
    Setting { flag: "max-sessions", env: "LANTERM_MAX_SESSIONS",
        kind: Kind::Count(1, 4096, |c, v| c.max_sessions = v as usize),
        default: Some("32"), help: "running sessions at once" },
    Setting { flag: "history-bytes", env: "LANTERM_HISTORY_BYTES",
        kind: Kind::Size(64 * KIB, GIB, |c, v| c.history_bytes = v),
        default: Some("8MiB"), help: "output kept per session" },
    Setting { flag: "store-max-bytes", env: "LANTERM_STORE_MAX_BYTES",
        kind: Kind::Size(MIB, 64 * GIB, |c, v| c.store_max_bytes = v),
        default: Some("256MiB"), help: "all stored output" },
    Setting { flag: "flush-interval", env: "LANTERM_FLUSH_INTERVAL",
        kind: Kind::Time(Duration::from_millis(10), secs(3600), |c, v| c.flush_interval = v),
        default: Some("5s"), help: "how often output is saved" },
    Setting { flag: "commit-idle", env: "LANTERM_COMMIT_IDLE",
        kind: Kind::OptTime(Duration::from_millis(10), secs(3600), |c, v| c.commit_idle = v),
        default: Some("250ms"), help: "quiet, then save" },
    Setting { flag: "flush-bytes", env: "LANTERM_FLUSH_BYTES",
        kind: Kind::Size(4 * KIB, 64 * MIB, |c, v| c.flush_bytes = v),
        default: Some("256KiB"), help: "early flush threshold" },
    Setting { flag: "compress", env: "LANTERM_COMPRESS", kind: Kind::Bool(|c, v| c.compress = v),
        default: Some("on"), help: "compress stored output (LZ4)" },
    Setting { flag: "retention", env: "LANTERM_RETENTION",
        kind: Kind::OptTime(secs(60), secs(999 * 86400), |c, v| c.retention = v),
        default: Some("30d"), help: "keep ended for" },
    Setting { flag: "store-queue", env: "LANTERM_STORE_QUEUE",
        kind: Kind::Size(256 * KIB, 256 * MIB, |c, v| c.store_queue = v),
        default: Some("4MiB"), help: "database write queue" },
    Setting { flag: "stop-grace", env: "LANTERM_STOP_GRACE",
        kind: Kind::Time(Duration::ZERO, secs(600), |c, v| c.stop_grace = v),
        default: Some("5s"), help: "polite signal to SIGKILL" },
    Setting { flag: "idle-timeout", env: "LANTERM_IDLE_TIMEOUT",
        kind: Kind::OptTime(secs(1), secs(30 * 86400), |c, v| c.idle_timeout = v),
        default: Some("0"), help: "stop idle sessions" },
    Setting { flag: "socket-mode", env: "LANTERM_SOCKET_MODE", kind: Kind::Mode(|c, v| c.socket_mode = v),
        default: Some("660"), help: "permissions of unix: sockets" },
    Setting { flag: "socket-owner", env: "LANTERM_SOCKET_OWNER",
        kind: Kind::User(|c, v| c.socket_owner = Some(v)), default: None,
        help: "owner of unix: sockets (USER[:GROUP])" },
    Setting { flag: "max-connections", env: "LANTERM_MAX_CONNECTIONS",
        kind: Kind::Count(1, 65536, |c, v| c.max_connections = v as usize),
        default: Some("256"), help: "open connections at once" },
    Setting { flag: "max-per-address", env: "LANTERM_MAX_PER_ADDRESS",
        kind: Kind::Count(1, 65536, |c, v| c.max_connections_per_address = v as usize),
        default: Some("32"), help: "of those, per address" },
    Setting { flag: "max-per-net", env: "LANTERM_MAX_PER_NET",
        kind: Kind::Count(1, 65536, |c, v| c.max_connections_per_net = v as usize),
        default: Some("64"), help: "of those, per IPv6 /64" },
    Setting { flag: "reserved-conns", env: "LANTERM_RESERVED_CONNS",
        kind: Kind::Count(0, 65535, |c, v| c.reserved_connections = Some(v as usize)),
        default: None, help: "of those, kept for logins" },
    Setting { flag: "max-clients", env: "LANTERM_MAX_CLIENTS",
        kind: Kind::Count(1, 1024, |c, v| c.max_clients = v as usize),
        default: Some("16"), help: "clients per session" },
    Setting { flag: "max-streams", env: "LANTERM_MAX_STREAMS",
        kind: Kind::Count(1, 1024, |c, v| c.max_event_streams = v as usize),
        default: Some("32"), help: "open /api/events streams" },
    Setting { flag: "max-body", env: "LANTERM_MAX_BODY",
        kind: Kind::Size(KIB, 64 * MIB, |c, v| c.max_body = v),
        default: Some("1MiB"), help: "largest request body" },
    Setting { flag: "max-upload", env: "LANTERM_MAX_UPLOAD",
        kind: Kind::Size(KIB, 64 * GIB, |c, v| c.max_upload = v),
        default: Some("256MiB"), help: "largest file upload" },
    Setting { flag: "max-head", env: "LANTERM_MAX_HEAD",
        kind: Kind::Size(8 * KIB, MIB, |c, v| c.max_header_bytes = v),
        default: Some("16KiB"), help: "largest request head" },
    Setting { flag: "max-headers", env: "LANTERM_MAX_HEADERS",
        kind: Kind::Count(8, 1024, |c, v| c.max_headers = v as usize),
        default: Some("64"), help: "most header lines" },
    Setting { flag: "header-timeout", env: "LANTERM_HEADER_TIMEOUT",
        kind: Kind::Time(Duration::from_millis(100), secs(300), |c, v| c.header_timeout = v),
        default: Some("10s"), help: "time to send head or body" },
    Setting { flag: "max-frame", env: "LANTERM_MAX_FRAME",
        kind: Kind::Size(KIB, 64 * MIB, |c, v| c.max_frame = v),
        default: Some("1MiB"), help: "largest WS frame" },
    Setting { flag: "ack-window", env: "LANTERM_ACK_WINDOW",
        kind: Kind::Size(4 * KIB, 64 * MIB, |c, v| c.ack_window = v),
        default: Some("512KiB"), help: "unacked output" },
    Setting { flag: "client-timeout", env: "LANTERM_CLIENT_TIMEOUT",
        kind: Kind::Time(Duration::from_millis(100), secs(600), |c, v| c.client_timeout = v),
        default: Some("30s"), help: "stuck client limit" },
    Setting { flag: "allowed-origin", env: "LANTERM_ALLOWED_ORIGIN",
        kind: Kind::Origins(|c, v| c.allowed_origins = v), default: None,
        help: "extra browser origins" },
    Setting { flag: "allowed-users", env: "LANTERM_ALLOWED_USERS",
        kind: Kind::Users(|c, v| c.allowed_users = v), default: Some("@login"),
        help: "who sessions may run as" },
    Setting { flag: "login-attempts", env: "LANTERM_LOGIN_ATTEMPTS",
        kind: Kind::Count(1, 1000, |c, v| c.login_attempts = v as u32),
        default: Some("10"), help: "failed logins before 429" },
    Setting { flag: "login-window", env: "LANTERM_LOGIN_WINDOW",
        kind: Kind::Time(secs(1), secs(86400), |c, v| c.login_window = v),
        default: Some("15m"), help: "how long failed logins count" },
    Setting { flag: "login-table", env: "LANTERM_LOGIN_TABLE",
        kind: Kind::Count(16, 65536, |c, v| c.login_table = v as usize),
        default: Some("1024"), help: "addresses tracked" },
    Setting { flag: "token-lifetime", env: "LANTERM_TOKEN_LIFETIME",
        kind: Kind::Time(secs(60), secs(365 * 86400), |c, v| c.token_lifetime = v),
        default: Some("30d"), help: "how long a login lasts" },
    Setting { flag: "max-tokens", env: "LANTERM_MAX_TOKENS",
        kind: Kind::Count(1, 10000, |c, v| c.max_tokens = v as usize),
        default: Some("64"), help: "logins kept at once" },
    Setting { flag: "tls-cert", env: "LANTERM_TLS_CERT", kind: Kind::Path(|c, v| c.tls_cert = Some(v)),
        default: None, help: "HTTPS certificates (PEM)" },
    Setting { flag: "tls-key", env: "LANTERM_TLS_KEY", kind: Kind::Path(|c, v| c.tls_key = Some(v)),
        default: None, help: "HTTPS private key (PEM)" },
];

impl Kind {
    /// The placeholder for the value in help; empty for booleans, which as flags take none.
    pub(super) fn meta(self) -> &'static str {
        match self {
            Kind::Listen => "ADDR",
            Kind::Path(_) => "PATH",
            Kind::Bool(_) => "",
            Kind::User(_) => "NAME",
            Kind::Level(_) => "LEVEL",
            Kind::Count(..) => "N",
            Kind::Size(..) => "SIZE",
            Kind::Time(..) | Kind::OptTime(..) => "TIME",
            Kind::Mode(_) => "MODE",
            Kind::Origins(_) => "LIST",
            Kind::Users(_) => "LIST",
        }
    }

    /// What a value must look like, for error messages.
    fn expected(self) -> String {
        let what = match self {
            Kind::Listen => {
                "a listen address (IPv4:PORT, [IPv6]:PORT, localhost:PORT, unix:/ABS/PATH)"
            }
            Kind::Path(_) => "a path (non-empty, no NUL)",
            Kind::Bool(_) => "a boolean (1/0, true/false, yes/no, on/off)",
            Kind::User(_) => "a user name (1 to 32 bytes, no '/' or control characters)",
            Kind::Level(_) => "a log level (off, error, warn, info, debug, trace)",
            Kind::Count(..) => return format!("a whole number ({})", self.range()),
            Kind::Size(..) => "a size (like 4096, 64KiB, 8MiB, 1GiB)",
            Kind::Time(..) | Kind::OptTime(..) => "a duration (like 500ms, 1s, 5m)",
            Kind::Mode(_) => "an octal file mode (like 660 or 0600)",
            Kind::Origins(_) => "an origin (scheme://host[:port], scheme http or https)",
            Kind::Users(_) => "a user name (1 to 32 bytes) or @login",
        };
        what.to_string()
    }

    /// The accepted range of numeric kinds, in the syntax they are parsed in; else empty.
    pub(super) fn range(self) -> String {
        let (d, s) = (fmt_duration, fmt_size);
        match self {
            Kind::Count(lo, hi, _) => format!("{lo}..={hi}"),
            Kind::Size(lo, hi, _) => format!("{}..={}", s(lo), s(hi)),
            Kind::Time(lo, hi, _) => format!("{}..={}", d(lo), d(hi)),
            Kind::OptTime(lo, hi, _) => format!("0 = off, {}..={}", d(lo), d(hi)),
            Kind::Mode(_) => "0..=777".into(),
            _ => String::new(),
        }
    }
}

pub(super) fn setting_for_env(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == name)
}

/// Parses `raw` as the value of `s` and stores it; `origin` names where it came from.
/// `append` adds to the listen list instead of replacing it.
pub(super) fn apply(cfg: &mut Config, s: &Setting, origin: &str, raw: &str, append: bool) -> Res {
    let v = raw.trim();
    let bad = || fail!("{origin}: {raw:?} is not {}", s.kind.expected());
    let out_of_range = || fail!("{origin}: {raw:?} is out of range ({})", s.kind.range());
    let check = |ok: bool| ok.then_some(()).ok_or_else(out_of_range);
    match s.kind {
        Kind::Listen => {
            let mut list = Vec::new();
            for part in raw.split(',').map(str::trim) {
                let bad = || fail!("{origin}: {part:?} is not {}", s.kind.expected());
                list.push(parse_listen(part).ok_or_else(bad)?);
            }
            if !append {
                cfg.listen.clear();
            }
            cfg.listen.extend(list);
        }
        Kind::Path(set) => set(cfg, parse_path(v).ok_or_else(bad)?),
        Kind::Bool(set) => set(cfg, parse_bool(v).ok_or_else(bad)?),
        Kind::User(set) => set(cfg, parse_user(v).ok_or_else(bad)?),
        Kind::Level(set) => set(cfg, v.parse().map_err(|_| bad())?),
        Kind::Count(lo, hi, set) => {
            let n = v.parse().map_err(|_| bad())?;
            check((lo..=hi).contains(&n))?;
            set(cfg, n);
        }
        Kind::Size(lo, hi, set) => {
            let n = parse_size(v).ok_or_else(bad)?;
            check((lo..=hi).contains(&n))?;
            set(cfg, n);
        }
        Kind::Time(lo, hi, set) => {
            let d = parse_duration(v).ok_or_else(bad)?;
            check((lo..=hi).contains(&d))?;
            set(cfg, d);
        }
        Kind::OptTime(lo, hi, set) => {
            let d = parse_duration(v).ok_or_else(bad)?;
            check(d.is_zero() || (lo..=hi).contains(&d))?;
            set(cfg, Some(d).filter(|d| !d.is_zero()));
        }
        Kind::Mode(set) => {
            let m = u32::from_str_radix(v, 8).map_err(|_| bad())?;
            check(m <= 0o777)?;
            set(cfg, m);
        }
        Kind::Origins(set) => {
            let mut list = Vec::new();
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let bad = || fail!("{origin}: {part:?} is not {}", s.kind.expected());
                list.push(parse_origin(part).ok_or_else(bad)?);
            }
            set(cfg, list);
        }
        Kind::Users(set) => {
            let mut list = Vec::new();
            for part in v.split(',').map(str::trim) {
                let bad = || fail!("{origin}: {part:?} is not {}", s.kind.expected());
                let ok = part == "@login" || parse_user(part).is_some_and(|u| !u.starts_with('@'));
                list.push(ok.then(|| part.to_string()).ok_or_else(bad)?);
            }
            set(cfg, list);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::tests::fails;

    #[test]
    fn bad_values_name_the_setting() {
        let cases = "max-sessions|abc|\"abc\" is not a whole number (1..=4096)
            max-sessions|0|\"0\" is out of range (1..=4096)
            store-queue|-5|is not a size (like 4096, 64KiB, 8MiB, 1GiB)
            history-bytes|1K|\"1K\" is out of range (64KiB..=1GiB)
            store-max-bytes|lots|is not a size (like 4096, 64KiB, 8MiB, 1GiB)
            flush-bytes|99999999999999999999GiB|is not a size
            flush-interval|5ms|is out of range (10ms..=1h)
            stop-grace|11m|is out of range (0..=10m)
            idle-timeout|500ms|is out of range (0 = off, 1s..=30d)
            idle-timeout|soon|is not a duration (like 500ms, 1s, 5m)
            listen|1.2.3.4|\"1.2.3.4\" is not a listen address (IPv4:PORT, [IPv6]:PORT
            listen|unix:rel/path|is not a listen address
            listen|0.0.0.0:80,|\"\" is not a listen address
            log|loud|\"loud\" is not a log level (off, error, warn, info, debug, trace)
            default-user|a/b|is not a user name (1 to 32 bytes
            default-user|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|is not a user name
            db||is not a path
            socket-mode|999|is not an octal file mode
            socket-mode|1000|is out of range (0..=777)
            max-clients|0|is out of range (1..=1024)
            allowed-origin|pi.local|\"pi.local\" is not an origin (scheme://host[:port]
            allowed-origin|ftp://pi.local|is not an origin
            allowed-origin|https://pi.local/path|is not an origin
            allowed-users|@everyone|\"@everyone\" is not a user name (1 to 32 bytes) or @login
            allowed-users|pi,,root|\"\" is not a user name
            login-attempts|0|is out of range (1..=1000)
            token-lifetime|10s|is out of range (1m..=365d)
            retention|30s|is out of range (0 = off, 1m..=999d)";
        for case in cases.lines() {
            let mut parts = case.trim().splitn(3, '|');
            let (flag, value) = (parts.next().unwrap(), parts.next().unwrap());
            let expect = parts.next().unwrap();
            let flag_start = format!("lanterm: --{flag}: ");
            assert!(fails(&[&format!("--{flag}"), value], &[], &flag_start).contains(expect));
            let env = format!("LANTERM_{}", flag.to_uppercase().replace('-', "_"));
            let env_start = format!("lanterm: {env}: ");
            assert!(fails(&[], &[(&env, value)], &env_start).contains(expect));
        }
    }
}
