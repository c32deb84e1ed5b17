//! systemd's notification protocol (`sd_notify(3)`) in a few lines, no dependency: datagrams to
//! `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket) saying `READY=1` once listening,
//! `STATUS=` lines as sessions come and go, `WATCHDOG=1` from the event loop every half of
//! `$WATCHDOG_USEC`, `STOPPING=1` at shutdown, and `RELOADING=1` before an upgrade's re-exec.
//! Without `$NOTIFY_SOCKET` (not under systemd) every call does nothing.

use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::engine::Event;
use crate::engine::Manager;
use crate::model::record::Status;

/// The longest a notification may block (systemd not reading its socket): the message is then
/// dropped with a warning rather than holding an async worker thread.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// The fastest watchdog we ping for: a shorter `$WATCHDOG_USEC` is treated as this.
const MIN_WATCHDOG_PERIOD: Duration = Duration::from_millis(10);

/// Where notifications go; cheap to clone. `Notifier::default()` sends nothing.
#[derive(Clone, Default)]
pub struct Notifier {
    target: Option<Arc<Target>>,
}

struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// From this process's `$NOTIFY_SOCKET`; a bad value is logged and ignored.
    pub fn from_env() -> Notifier {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(name) => Notifier::to(&name).unwrap_or_else(|e| {
                log::warn!("NOTIFY_SOCKET {name:?} ignored: {e}");
                Notifier::default()
            }),
            None => Notifier::default(),
        }
    }

    /// To the socket `name`: an absolute path, or `@` and an abstract socket's name.
    pub fn to(name: &OsStr) -> std::io::Result<Notifier> {
        let bytes = name.as_bytes();
        let addr = match bytes.split_first() {
            Some((b'@', abstract_name)) => SocketAddr::from_abstract_name(abstract_name)?,
            Some((b'/', _)) => SocketAddr::from_pathname(name)?,
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "neither an absolute path nor an @abstract name",
                ));
            }
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Notifier {
            target: Some(Arc::new(Target { socket, addr })),
        })
    }

    /// Whether notifications go anywhere.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (newline-separated `KEY=value` lines) as one datagram; whether it went.
    pub fn send(&self, state: &str) -> bool {
        let Some(t) = &self.target else {
            return false;
        };
        match t.socket.send_to_addr(state.as_bytes(), &t.addr) {
            Ok(_) => true,
            Err(e) => {
                log::warn!("cannot notify systemd ({:?}): {e}", first_line(state));
                false
            }
        }
    }

    /// `READY=1` with a status line: the service is listening.
    pub fn ready(&self, status: &str) -> bool {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)))
    }

    /// A `STATUS=` line for `systemctl status`.
    pub fn status(&self, status: &str) -> bool {
        self.send(&format!("STATUS={}", one_line(status)))
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) -> bool {
        self.send("STOPPING=1\nSTATUS=stopping: ending sessions, saving output")
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (as systemd asks since v253): call before an
    /// upgrade's re-exec; the new binary's `READY=1` ends the reload.
    pub fn reloading(&self) -> bool {
        let usec = match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
            Ok(t) => t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000,
            Err(e) => {
                log::warn!("cannot read CLOCK_MONOTONIC: {e}");
                return self.send("RELOADING=1\nSTATUS=reloading");
            }
        };
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading"
        ))
    }
}

/// The watchdog's ping period: half of `$WATCHDOG_USEC`, if the watchdog is on and meant for
/// this process (`$WATCHDOG_PID` unset or ours).
pub fn watchdog_period(usec: Option<&str>, pid: Option<&str>) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    Some((Duration::from_micros(usec) / 2).max(MIN_WATCHDOG_PERIOD))
}

/// Called by `serve` once listening: `READY=1` with the first status, then (in tasks of the
/// runtime) `STATUS=` updates as sessions start and end, and `WATCHDOG=1` pings. A wedged
/// runtime stops the pings, and systemd restarts the service.
pub fn started(manager: &Manager, addresses: &[String]) -> Notifier {
    let notifier = Notifier::from_env();
    if !notifier.enabled() {
        return notifier;
    }
    let serving = format!("serving on {}", addresses.join(", "));
    notifier.ready(&status_line(&serving, manager));
    tokio::spawn(report_status(notifier.clone(), manager.clone(), serving));
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    if let Some(period) = watchdog_period(usec.as_deref(), pid.as_deref()) {
        log::debug!("systemd watchdog: pinging every {period:?}");
        tokio::spawn(ping(notifier.clone(), period));
    }
    notifier
}

/// `serving on ADDRS: N sessions running`.
fn status_line(serving: &str, manager: &Manager) -> String {
    match manager.list(Some(Status::Running)).len() {
        1 => format!("{serving}: 1 session running"),
        n => format!("{serving}: {n} sessions running"),
    }
}

/// One `STATUS=` per burst of session starts and ends, until the manager shuts down. (The
/// manager this task holds owns the broadcast's sender, so the broadcast never closes while
/// the task runs: the manager's own shutdown signal is what ends it.)
async fn report_status(notifier: Notifier, manager: Manager, serving: String) {
    let mut events = manager.subscribe();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = manager.closed() => return,
        };
        match event {
            Ok(Event::Created(_) | Event::Exited(_) | Event::Deleted(_))
            | Err(RecvError::Lagged(_)) => {}
            Ok(Event::Updated(_)) => continue,
            Err(RecvError::Closed) => return,
        }
        while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) =
            events.try_recv()
        {}
        notifier.status(&status_line(&serving, &manager));
    }
}

async fn ping(notifier: Notifier, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        notifier.send("WATCHDOG=1");
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_period_is_half_for_this_process_only() {
        let me = std::process::id().to_string();
        let p = |u, pid| watchdog_period(u, pid);
        assert_eq!(p(Some("30000000"), None), Some(Duration::from_secs(15)));
        assert_eq!(
            p(Some("30000000"), Some(&me)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(p(Some("30000000"), Some("1")), None);
        assert_eq!(p(Some("0"), None), None);
        assert_eq!(p(Some("x"), None), None);
        assert_eq!(p(None, None), None);
        assert_eq!(p(Some("2"), None), Some(MIN_WATCHDOG_PERIOD));
    }

    #[test]
    fn names_must_be_absolute_or_abstract() {
        assert!(Notifier::to(OsStr::new("relative/sock")).is_err());
        assert!(Notifier::to(OsStr::new("")).is_err());
        assert!(Notifier::to(OsStr::new("/run/systemd/notify")).is_ok());
        assert!(Notifier::to(OsStr::new("@lanterm-test")).is_ok());
        assert!(!Notifier::default().send("READY=1"));
    }

    #[tokio::test]
    async fn the_status_task_ends_when_its_manager_shuts_down() {
        let dir = std::env::temp_dir().join(format!("lanterm-notify-end-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = dir.join("t.db").display().to_string();
        let args: Vec<String> = ["--db", &db, "--allow-root", "--log", "warn"]
            .map(String::from)
            .to_vec();
        let env = [("HOME".to_string(), "/root".to_string())].into();
        let euid = nix::unistd::geteuid().as_raw();
        let config = crate::config::Config::load(&args, &env, euid).unwrap();
        let manager = Manager::start(&config).unwrap();
        let task = tokio::spawn(report_status(
            Notifier::default(),
            manager.clone(),
            "serving".into(),
        ));
        manager.shutdown().await;
        let ended = tokio::time::timeout(Duration::from_secs(30), task).await;
        assert!(ended.is_ok(), "the status task outlived its manager");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn datagrams_reach_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("lanterm-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::to(path.as_os_str()).unwrap();
        assert!(n.status("a\nb"));
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STATUS=a b");
        assert!(n.reloading());
        let len = rx.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(text.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{text}");

        let name = format!("lanterm-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::to(OsStr::new(&format!("@{name}"))).unwrap();
        assert!(n.stopping());
        let len = rx.recv(&mut buf).unwrap();
        assert!(buf[..len].starts_with(b"STOPPING=1\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
