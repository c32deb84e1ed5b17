//! Settings of the service, merged from flags, `LANTERM_*` environment variables and a config file.
//!
//! The config file is an environment file (systemd `EnvironmentFile=` format). Precedence is
//! flag > environment variable > config file > built-in default. Every setting is one entry of
//! `SETTINGS` plus one field of [`Config`]; parsing, errors and help are driven by the table.
//! Nothing here panics on outside input: every problem is a one-line [`ConfigError`].
//!
//! Layout: this file holds the types, [`Config::load`] (the precedence) and [`help_text`];
//! `settings` the table and the value kinds, `values` the syntax of single values (sizes,
//! durations, addresses), `envfile` the config file.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

/// An address to accept connections on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(addr) => write!(f, "{addr}"),
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The effective settings. See [`help_text`] (generated from `SETTINGS`) for each one.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<Listen>,
    pub db: PathBuf,
    pub config_file: Option<PathBuf>,
    pub no_auth: bool,
    pub default_user: Option<String>,
    pub allow_root: bool,
    pub log: LevelFilter,
    pub max_sessions: usize,
    pub history_bytes: u64,
    pub store_max_bytes: u64,
    pub flush_interval: Duration,
    /// Output a client was shown is committed once the session is quiet this long (`None`:
    /// only at the flush interval).
    pub commit_idle: Option<Duration>,
    pub flush_bytes: u64,
    /// Compress stored output (LZ4).
    pub compress: bool,
    /// Ended sessions older than this are deleted with their output; `None` keeps them.
    pub retention: Option<Duration>,
    /// Bytes of output in flight to the database writer.
    pub store_queue: u64,
    pub stop_grace: Duration,
    /// `None` means off.
    pub idle_timeout: Option<Duration>,
    /// Permission bits and owner (`USER` or `USER:GROUP`) of `unix:` listen sockets.
    pub socket_mode: u32,
    pub socket_owner: Option<String>,
    /// Open connections at once, all listeners together.
    pub max_connections: usize,
    /// Open connections from one TCP address, and from one IPv6 /64.
    pub max_connections_per_address: usize,
    pub max_connections_per_net: usize,
    /// Of `max_connections`, the last ones kept for requests with a live login; `None`: an
    /// eighth (see [`Config::reserved_connections`]).
    pub reserved_connections: Option<usize>,
    /// WebSocket clients attached to one session at once.
    pub max_clients: usize,
    /// `GET /api/events` streams open at once.
    pub max_event_streams: usize,
    /// Largest request body.
    pub max_body: u64,
    /// Largest file uploaded into a session (`POST /api/sessions/{id}/files`).
    pub max_upload: u64,
    /// Largest request head (request line and headers), and most header lines.
    pub max_header_bytes: u64,
    pub max_headers: usize,
    /// Time a client has to send a complete request head.
    pub header_timeout: Duration,
    /// Largest WebSocket message from a client.
    pub max_frame: u64,
    /// Output sent beyond a client's latest `ack` before the server waits.
    pub ack_window: u64,
    /// A WebSocket client that takes longer than this to accept a frame is closed (1008).
    pub client_timeout: Duration,
    /// Origins (`scheme://host[:port]`) accepted besides the one matching `Host`.
    pub allowed_origins: Vec<String>,
    /// Who sessions may run as: user names, and `@login` for every regular login user.
    pub allowed_users: Vec<String>,
    /// Failed logins from one address before it is answered 429, and how long they count.
    pub login_attempts: u32,
    pub login_window: Duration,
    /// Client addresses whose failed logins are remembered (the limiter's memory bound).
    pub login_table: usize,
    /// How long a login token is valid, and how many are kept (the oldest goes first).
    pub token_lifetime: Duration,
    pub max_tokens: usize,
    /// Certificate chain and private key (PEM) to serve HTTPS with; both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// A one-line message for people, starting with `lanterm: `; the caller prints it and exits 2.
#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

type Res<T = ()> = Result<T, ConfigError>;

impl ConfigError {
    /// Prefixes `lanterm: ` and keeps the message on one line, whatever went into it.
    fn new(message: String) -> ConfigError {
        let message = message.replace(char::is_control, "?");
        ConfigError(format!("lanterm: {message}"))
    }
}

/// A [`ConfigError`] from format arguments.
macro_rules! fail {
    ($($arg:tt)*) => { $crate::config::ConfigError::new(format!($($arg)*)) };
}

mod envfile;
mod settings;
#[cfg(test)]
mod tests;
mod values;

use envfile::load_file;
use settings::{CONFIG_ENV, Kind, SETTINGS, Setting, apply, setting_for_env};

/// `LANTERM_*` variables that are not settings of the service: `LANTERM_SESSION` is set inside
/// every session (so `lanterm serve` may be started from one), the others are read by the
/// client commands (`lanterm ls`, `new`, `attach`).
pub const NOT_SETTINGS: &[&str] = &["LANTERM_SESSION", "LANTERM_URL", "LANTERM_TOKEN"];
pub use values::{fmt_duration, parse_duration, parse_size};

impl Config {
    /// Builds the settings from `args` (after the subcommand), the process environment `env`
    /// (and the config file it or the flags name), and the effective uid (for the db default).
    pub fn load(args: &[String], env: &BTreeMap<String, String>, euid: u32) -> Res<Config> {
        let flags = parse_args(args)?;
        let mut cfg = Config::unset();
        for s in SETTINGS {
            if let Some(default) = s.default {
                let origin = format!("--{} (built-in default)", s.flag);
                apply(&mut cfg, s, &origin, default, false)?;
            }
        }
        // The file first, as everything else overrides it; --config wins over LANTERM_CONFIG.
        let config_flag = flags.iter().rev().find(|(s, _)| s.env == CONFIG_ENV);
        let config_src = match config_flag {
            Some((_, path)) => Some(("--config", path)),
            None => env.get(CONFIG_ENV).map(|path| (CONFIG_ENV, path)),
        };
        if let (Some((origin, path)), Some(s)) = (config_src, setting_for_env(CONFIG_ENV)) {
            apply(&mut cfg, s, origin, path, false)?;
            if let Some(file) = cfg.config_file.clone() {
                load_file(&mut cfg, &file, origin)?;
            }
        }
        let ours = |k: &str| k.starts_with("LANTERM_") && !NOT_SETTINGS.contains(&k);
        for (name, value) in env.iter().filter(|(k, _)| ours(k)) {
            let s = setting_for_env(name).ok_or_else(|| {
                fail!("{name}: unknown environment variable (see lanterm --help)")
            })?;
            apply(&mut cfg, s, name, value, false)?;
        }
        let mut listen_seen = false; // the first --listen replaces the list, later ones add
        for (s, value) in &flags {
            let append =
                matches!(s.kind, Kind::Listen) && std::mem::replace(&mut listen_seen, true);
            apply(&mut cfg, s, &format!("--{}", s.flag), value, append)?;
        }
        if cfg.db.as_os_str().is_empty() {
            cfg.db = default_db(env, euid)?;
        }
        check_reserved(&cfg)?;
        check_tls(&cfg)?;
        Ok(cfg)
    }

    /// Every setting unset: what the defaults, the file, the environment and the flags are
    /// applied to, in that order (a data table).
    fn unset() -> Config {
        Config {
            listen: Vec::new(),
            db: PathBuf::new(), // empty: not given, computed at the end
            config_file: None,
            no_auth: false,
            default_user: None,
            allow_root: false,
            log: LevelFilter::Info,
            max_sessions: 0,
            history_bytes: 0,
            store_max_bytes: 0,
            flush_interval: Duration::ZERO,
            commit_idle: None,
            flush_bytes: 0,
            compress: false,
            retention: None,
            store_queue: 0,
            stop_grace: Duration::ZERO,
            idle_timeout: None,
            socket_mode: 0,
            socket_owner: None,
            max_connections: 0,
            max_connections_per_address: 0,
            max_connections_per_net: 0,
            reserved_connections: None,
            max_clients: 0,
            max_event_streams: 0,
            max_body: 0,
            max_upload: 0,
            max_header_bytes: 0,
            max_headers: 0,
            header_timeout: Duration::ZERO,
            max_frame: 0,
            ack_window: 0,
            client_timeout: Duration::ZERO,
            allowed_origins: Vec::new(),
            allowed_users: Vec::new(),
            login_attempts: 0,
            login_window: Duration::ZERO,
            login_table: 0,
            token_lifetime: Duration::ZERO,
            max_tokens: 0,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `--tls-cert` and `--tls-key` come together, and only in a build with TLS.
fn check_tls(cfg: &Config) -> Res<()> {
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(_), None) => return Err(fail!("--tls-cert: needs --tls-key too")),
        (None, Some(_)) => return Err(fail!("--tls-key: needs --tls-cert too")),
        (Some(_), Some(_)) if !cfg!(feature = "tls") => {
            return Err(fail!("--tls-cert: this build has no TLS support"));
        }
        _ => {}
    }
    Ok(())
}

/// `--reserved-conns` must leave ordinary connections for everyone else.
fn check_reserved(cfg: &Config) -> Res<()> {
    if let Some(reserved) = cfg.reserved_connections
        && reserved >= cfg.max_connections
    {
        return Err(fail!(
            "--reserved-conns: {reserved} leaves no connection for anyone else \
             (--max-connections is {}): give a smaller number",
            cfg.max_connections
        ));
    }
    Ok(())
}

impl Config {
    /// Connection slots kept for requests with a live login: as set, else an eighth of
    /// `--max-connections` (32 of 256; none below 8).
    pub fn reserved_connections(&self) -> usize {
        self.reserved_connections
            .unwrap_or(self.max_connections / 8)
    }
}

/// Splits the arguments into (setting, value) pairs; bare boolean flags get "true".
fn parse_args(args: &[String]) -> Res<Vec<(&'static Setting, String)>> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(body) = arg.strip_prefix("--") else {
            return Err(fail!("unexpected argument {arg:?} (see lanterm --help)"));
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let flag = format!("--{name}");
        let Some(s) = SETTINGS.iter().find(|s| s.flag == name) else {
            return Err(fail!("unknown flag {flag:?} (see lanterm --help)"));
        };
        let value = match (inline, s.kind) {
            (Some(value), _) => value.to_string(),
            (None, Kind::Bool(_)) => "true".to_string(),
            (None, _) => match it.next() {
                Some(value) if !value.starts_with("--") => value.clone(),
                _ => return Err(fail!("{flag}: missing value ({flag} {})", s.kind.meta())),
            },
        };
        out.push((s, value));
    }
    Ok(out)
}
fn default_db(env: &BTreeMap<String, String>, euid: u32) -> Res<PathBuf> {
    if euid == 0 {
        return Ok(PathBuf::from("/var/lib/lanterm/lanterm.db"));
    }
    let dir = |key: &str| env.get(key).map(Path::new).filter(|p| p.is_absolute());
    if let Some(state) = dir("XDG_STATE_HOME") {
        Ok(state.join("lanterm/lanterm.db"))
    } else if let Some(home) = dir("HOME") {
        Ok(home.join(".local/state/lanterm/lanterm.db"))
    } else {
        Err(fail!(
            "--db: no default location (HOME and XDG_STATE_HOME are unset or not absolute); \
             give --db PATH or LANTERM_DB"
        ))
    }
}
fn flag_column(s: &Setting) -> String {
    match s.kind.meta() {
        "" => format!("--{}", s.flag),
        meta => format!("--{} {meta}", s.flag),
    }
}

/// Usage of the whole binary and one line per setting, generated from the table.
pub fn help_text() -> String {
    let width = |f: fn(&Setting) -> usize| SETTINGS.iter().map(f).max().unwrap_or(0);
    let w1 = width(|s| flag_column(s).len());
    let w2 = width(|s| s.env.len());
    let w3 = width(|s| s.default.map_or(1, str::len));
    let mut out = String::from(
        "lanterm - a persistent web terminal for headless boards\n\n\
         Usage:\n  \
           lanterm [serve] [SETTINGS]   run the service in the foreground\n  \
           lanterm ls | new | attach    use a running service (see lanterm ls --help)\n  \
           lanterm passwd [--db PATH]   set the login password (one line on standard input)\n  \
           lanterm get FILE             in a session: print a link that downloads FILE\n  \
           lanterm --help | --version\n\n\
         Settings (flag, environment variable, default):\n",
    );
    for s in SETTINGS {
        let (flag, default) = (flag_column(s), s.default.unwrap_or("-"));
        out += &format!("  {flag:<w1$} {:<w2$} {default:<w3$} {}", s.env, s.help);
        match s.kind.range() {
            range if range.is_empty() => out.push('\n'),
            range => out += &format!(" ({range})\n"),
        }
    }
    out.push_str(
        "Precedence: flag > environment variable > config file (--config, an environment file of \
         LANTERM_* lines) > default.\n\n\
         Addresses: IPv4:PORT, [IPv6]:PORT, localhost:PORT, unix:/ABS/PATH; repeat --listen, or give\n\
         LANTERM_LISTEN a comma-separated list. Sizes: 4096, 64KiB, 8MiB, 1GiB. Durations: 250ms, 1s,\n\
         5m, 2h, 30d (a bare number is seconds). Booleans in the environment or file: 1/0, true/false,\n\
         yes/no, on/off; as flags they take no value. Idle: no client attached and no output.\n\
         Default --db: /var/lib/lanterm/lanterm.db as root, else $XDG_STATE_HOME/lanterm/lanterm.db\n\
         or ~/.local/state/lanterm/lanterm.db.\n\
         Default --reserved-conns: an eighth of --max-connections.\n\
         Lists (--allowed-origin, --allowed-users) are comma-separated. Origins: scheme://host[:port].\n\
         Users: names, and @login for every regular login user (uid 1000 or more, a real shell).\n",
    );
    out
}
