//! Launching: a create request checked and turned into a [`Plan`] (the process to start on a
//! PTY), then started ([`start`]); `supervise` follows it until it ends.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::Deserialize;

use crate::engine::event::Event;
use crate::engine::pty::{self, SpawnError, SpawnSpec};
use crate::engine::reaper::Reaper;
use crate::engine::session::Session;
use crate::engine::session_signal;
use crate::engine::shared::Shared;
use crate::engine::slots::{Slot, Supervising};
use crate::engine::supervise::supervise;
use crate::engine::user::{Account, Policy};
use crate::model::clock::Timestamp;
use crate::model::error::{Error, Result};
use crate::model::id::SessionId;
use crate::model::record::{SessionInfo, Status};

/// Longest session name, in bytes.
pub const MAX_NAME: usize = 128;
/// Longest command line, in bytes.
pub const MAX_COMMAND: usize = 16 * 1024;
/// Most environment variables a request may add, and their total size.
pub const MAX_ENV_VARS: usize = 64;
pub const MAX_ENV_BYTES: usize = 32 * 1024;

/// `POST /api/sessions`: every field optional. Unknown fields are ignored.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub command: Option<String>,
    pub cwd: Option<String>,
    pub user: Option<String>,
    pub cols: Option<i64>,
    pub rows: Option<i64>,
    pub env: Option<BTreeMap<String, String>>,
    /// Who asked (set by the API from the caller, never read from the body).
    #[serde(skip)]
    pub created_by: Option<String>,
}

/// A request that passed every check, ready to start.
pub(super) struct Plan {
    pub name: String,
    pub command: Option<String>,
    pub cwd: PathBuf,
    pub account: Account,
    pub spec: SpawnSpec,
    pub created_by: Option<String>,
}

/// Checks a terminal dimension from outside: `1..=1000`.
pub fn dimension(field: &str, value: Option<i64>, default: u16) -> Result<u16> {
    match value {
        None => Ok(default),
        Some(v) if (1..=1000).contains(&v) => Ok(v as u16),
        Some(v) => Err(Error::bad_request(format!(
            "{field} must be between 1 and 1000, not {v}"
        ))),
    }
}

/// Checks a session name from outside.
pub fn check_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME {
        return Err(Error::bad_request(format!(
            "name is {} bytes long; the limit is {MAX_NAME}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::bad_request("name cannot contain control characters"));
    }
    Ok(())
}

fn check_env(env: &BTreeMap<String, String>) -> Result<()> {
    if env.len() > MAX_ENV_VARS {
        return Err(Error::bad_request(format!(
            "env has {} variables; the limit is {MAX_ENV_VARS}",
            env.len()
        )));
    }
    let total: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    if total > MAX_ENV_BYTES {
        return Err(Error::bad_request(format!(
            "env is {total} bytes; the limit is {MAX_ENV_BYTES}"
        )));
    }
    for (k, v) in env {
        let valid_key = k
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
        if k.is_empty() || !valid_key {
            return Err(Error::bad_request(format!(
                "env: {k:?} is not a variable name (letters, digits and _, not starting with a digit)"
            )));
        }
        if v.contains('\0') {
            return Err(Error::bad_request(format!("env: {k} contains a NUL byte")));
        }
    }
    Ok(())
}

impl Plan {
    /// Checks `req` against the limits and the user policy, and prepares the process.
    pub(super) fn new(req: CreateRequest, policy: &Policy, id: &SessionId) -> Result<Plan> {
        let cols = dimension("cols", req.cols, 80)?;
        let rows = dimension("rows", req.rows, 24)?;
        let env = req.env.unwrap_or_default();
        check_env(&env)?;
        if let Some(cmd) = &req.command {
            if cmd.trim().is_empty() {
                return Err(Error::bad_request(
                    "command is empty (leave it out for the user's login shell)",
                ));
            }
            if cmd.len() > MAX_COMMAND || cmd.contains('\0') {
                return Err(Error::bad_request(format!(
                    "command must be at most {MAX_COMMAND} bytes, without NUL"
                )));
            }
        }
        let (account, credentials) = policy.resolve(req.user.as_deref())?;
        let cwd = match req.cwd {
            Some(c) => PathBuf::from(c),
            None if account.home.is_dir() => account.home.clone(),
            None => PathBuf::from("/"),
        };
        if !cwd.is_absolute() {
            return Err(Error::bad_request(format!(
                "cwd must be an absolute path, not {:?}",
                cwd.display().to_string()
            )));
        }
        // Whether the user may enter `cwd` is for the kernel to say, as that user: the child
        // enters it after the privilege drop (see `refusal`). Asked as root, the answer would
        // tell whether a path exists where the user cannot look.
        let shell_name = file_name(&account.shell);
        let name = match req.name {
            Some(n) => n,
            None => default_name(req.command.as_deref(), &shell_name),
        };
        check_name(&name)?;
        let (arg0, args) = match &req.command {
            // The user's shell runs the command line, as ssh does: pipes and globs work.
            Some(cmd) => (shell_name.clone(), vec!["-c".into(), cmd.into()]),
            // No command: the login shell, as a login shell (argv[0] starts with '-').
            None => (format!("-{shell_name}"), Vec::new()),
        };
        let spec = SpawnSpec {
            program: account.shell.clone(),
            arg0: arg0.into(),
            args,
            env: child_env(&account, id, &env),
            cwd: cwd.clone(),
            cols,
            rows,
            credentials,
        };
        Ok(Plan {
            name,
            command: req.command,
            cwd,
            account,
            spec,
            created_by: req.created_by,
        })
    }
}

impl Plan {
    /// The client's answer when the planned process could not be started. Not existing, not
    /// a directory and not allowed in are one answer: the kernel answers a user who cannot look
    /// inside a directory "permission denied" for what exists there and what does not, and
    /// the same words elsewhere keep any answer from being read as an existence test.
    pub(super) fn refusal(&self, e: SpawnError) -> Error {
        let cwd = self.cwd.display().to_string();
        match e {
            SpawnError::Cwd(Errno::ENOENT | Errno::EACCES | Errno::ENOTDIR) => {
                Error::bad_request(format!(
                    "cwd {cwd:?} is not a directory that {} can enter (it does not exist, \
                     or is not a directory, or {0} may not enter it)",
                    self.account.name
                ))
            }
            SpawnError::Cwd(errno) => Error::bad_request(format!("cwd {cwd:?}: {}", errno.desc())),
            // Out of descriptors, processes or memory: the service's trouble, not the request's.
            SpawnError::Start(e) if out_of_resources(&e) => Error::new(
                crate::model::error::Code::Unavailable,
                format!("cannot start a session now: {e}; try again later"),
            ),
            SpawnError::Start(e) => Error::bad_request(format!(
                "cannot start {} in {cwd}: {e}",
                self.spec.program.display()
            )),
        }
    }
}

fn out_of_resources(e: &std::io::Error) -> bool {
    let errno = e.raw_os_error().map(Errno::from_raw);
    matches!(
        errno,
        Some(Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM | Errno::EAGAIN | Errno::ENOSPC)
    )
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sh".into())
}

/// `make -j4` → `make`; no command → the shell's name.
fn default_name(command: Option<&str>, shell: &str) -> String {
    let first = command.and_then(|c| c.split_whitespace().next());
    let name = first.map_or(shell, |w| w.rsplit('/').next().unwrap_or(w));
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// The child's whole environment: a clean login-like set, then the request's additions.
fn child_env(
    a: &Account,
    id: &SessionId,
    extra: &BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let path = if a.uid.is_root() {
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    } else {
        "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
    };
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    // Locale and time zone follow the service's own, when it has them.
    for key in ["LANG", "LC_ALL", "TZ"] {
        if let Some(v) = std::env::var_os(key) {
            env.insert(key.into(), v);
        }
    }
    for (k, v) in [
        ("TERM", "xterm-256color"),
        ("COLORTERM", "truecolor"),
        ("USER", a.name.as_str()),
        ("LOGNAME", a.name.as_str()),
        ("PATH", path),
        ("LANTERM_SESSION", id.as_str()),
    ] {
        env.insert(k.into(), v.into());
    }
    env.insert("HOME".into(), a.home.clone().into_os_string());
    env.insert("SHELL".into(), a.shell.clone().into_os_string());
    for (k, v) in extra {
        env.insert(k.into(), v.into());
    }
    env.into_iter().collect()
}

/// Starts the planned process and its supervisor (which then holds the slot and is counted
/// until it is done), records it and announces it.
pub(super) async fn start(
    shared: &Arc<Shared>,
    id: SessionId,
    plan: Plan,
    counted: (Slot, Supervising),
) -> Result<SessionInfo> {
    let (pty, child) = pty::spawn(&plan.spec).map_err(|e| plan.refusal(e))?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let info = SessionInfo {
        id: id.clone(),
        name: plan.name,
        status: Status::Running,
        command: plan.command,
        cwd: plan.cwd.to_string_lossy().into_owned(),
        user: plan.account.name,
        pid,
        cols: plan.spec.cols,
        rows: plan.spec.rows,
        created_at: Timestamp::now(),
        ended_at: None,
        exit_code: None,
        exit_signal: None,
        output_bytes: 0,
        history_start: 0,
        clients: 0,
        last_output_at: None,
        created_by: plan.created_by,
        seq: shared.next_seq(),
    };
    // The record is queued before any output, so the store never sees output of an unknown
    // session. If even that fails, the process must not run unsupervised.
    let progress = match shared.store().create(&info).await {
        Ok(p) => p,
        Err(e) => {
            if let Some(pid) = pid {
                session_signal::signal_session(Pid::from_raw(pid), Signal::SIGKILL, None, true);
            }
            return Err(e);
        }
    };
    let session = Session::started(info.clone(), pty, progress);
    shared.insert(session.clone());
    let child = Reaper::Spawned(child);
    tokio::spawn(supervise(session, child, shared.clone(), counted));
    log::info!(
        "session {} ({}) started as {} in {}, pid {}",
        info.id,
        info.name,
        info.user,
        info.cwd,
        pid.unwrap_or(0)
    );
    shared.announce(Event::Created(info.clone()));
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_are_checked() {
        assert_eq!(dimension("cols", None, 80).unwrap(), 80);
        assert_eq!(dimension("cols", Some(1000), 80).unwrap(), 1000);
        for bad in [0, -1, 1001, i64::MAX] {
            assert!(
                dimension("rows", Some(bad), 24)
                    .unwrap_err()
                    .message
                    .contains("rows")
            );
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name(&"é".repeat(64)).is_ok()); // 128 bytes
        assert!(check_name(&"x".repeat(129)).is_err());
        assert!(check_name("a\u{1b}[2Jb").is_err());
        assert_eq!(default_name(Some("/usr/bin/make -j4"), "bash"), "make");
        assert_eq!(default_name(None, "bash"), "bash");
    }

    #[test]
    fn env_is_checked() {
        let env = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert!(check_env(&env("GOOD_1", "x")).is_ok());
        for (k, v) in [("", "x"), ("1BAD", "x"), ("A=B", "x"), ("OK", "nul\0")] {
            assert!(check_env(&env(k, v)).is_err(), "{k:?}={v:?}");
        }
        let many: BTreeMap<_, _> = (0..65).map(|i| (format!("V{i}"), String::new())).collect();
        assert!(check_env(&many).is_err());
        assert!(check_env(&env("BIG", &"x".repeat(MAX_ENV_BYTES))).is_err());
    }
}
