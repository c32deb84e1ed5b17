//! The one way the tests and the benchmarks start the real `lanterm` binary. [`Spawn`] builds
//! the command line (the binary, or a runner such as qemu before it; arguments; an empty
//! environment but `HOME`), and [`Running`] is the process: its log (standard error, drained
//! for its whole life so it never blocks on a full pipe), its ready line awaited with a
//! deadline, and its stop (SIGTERM, then SIGKILL once the deadline has passed; also on drop).
//! Needs only `std` and `nix`, so `tests/bench/` includes it as well as `tests/common/`.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[path = "pipe.rs"]
mod pipe;
use pipe::Pipe;

/// The default bound of every wait on the process: its ready line, its exit.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How long its pipes may stay open after the process exited (a grandchild holding them).
const LOG_END: Duration = Duration::from_secs(5);

/// A command line to start; see [`Spawn::start`], [`Spawn::spawn`] and [`Spawn::output`].
pub struct Spawn {
    cmd: Command,
    shown: String,
    stdin: Option<Vec<u8>>,
    deadline: Duration,
}

impl Spawn {
    /// `bin` with an empty environment but `HOME=/root`.
    pub fn new(bin: impl AsRef<OsStr>) -> Spawn {
        Spawn::argv(&[bin])
    }

    /// `argv[0]` with the rest of `argv` first: `["qemu-aarch64-static", BIN]` runs BIN under
    /// emulation.
    pub fn argv<S: AsRef<OsStr>>(argv: &[S]) -> Spawn {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).env_clear().env("HOME", "/root");
        let shown: Vec<_> = argv.iter().map(|a| a.as_ref().to_string_lossy()).collect();
        Spawn {
            cmd,
            shown: shown.join(" "),
            stdin: None,
            deadline: DEADLINE,
        }
    }

    /// `bin serve --listen 127.0.0.1:0`: a service on a free loopback port.
    pub fn serve(bin: impl AsRef<OsStr>) -> Spawn {
        Spawn::new(bin).args(["serve", "--listen", "127.0.0.1:0"])
    }

    /// `--db PATH`.
    pub fn db(self, path: &Path) -> Spawn {
        self.arg("--db").arg(path)
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Spawn {
        self.shown.push(' ');
        self.shown.push_str(&arg.as_ref().to_string_lossy());
        self.cmd.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(self, args: impl IntoIterator<Item = S>) -> Spawn {
        args.into_iter().fold(self, Spawn::arg)
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Spawn {
        self.cmd.env(key, value);
        self
    }

    /// What the process reads on standard input (else it reads nothing: `/dev/null`).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Spawn {
        self.stdin = Some(bytes.into());
        self
    }

    /// The bound of every wait on this process (default [`DEADLINE`]).
    pub fn deadline(mut self, deadline: Duration) -> Spawn {
        self.deadline = deadline;
        self
    }

    /// Starts the process without waiting for anything.
    pub fn spawn(mut self) -> Running {
        let input = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        self.cmd
            .stdin(input)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.shown));
        if let (Some(bytes), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes); // dropped after: end of file
            });
        }
        let stdout = Arc::new(Pipe::default());
        if let Some(pipe) = child.stdout.take() {
            let sink = stdout.clone();
            std::thread::spawn(move || sink.drain(pipe));
        }
        let log = Arc::new(Pipe::default());
        if let Some(pipe) = child.stderr.take() {
            let sink = log.clone();
            std::thread::spawn(move || sink.drain(pipe));
        }
        Running {
            pid: Pid::from_raw(child.id() as i32),
            child: Some(child),
            shown: self.shown,
            log,
            stdout,
            deadline: self.deadline,
            status: None,
            addr: String::new(),
        }
    }

    /// Starts the process and waits for its `ready on ...` line ([`Running::wait_ready`]).
    pub fn start(self) -> Running {
        let mut running = self.spawn();
        running.wait_ready();
        running
    }

    /// Runs the process to its end (killed and failing after the deadline): its status, its
    /// standard output, and its log as standard error.
    pub fn output(self) -> Output {
        let mut running = self.spawn();
        let status = running.wait_exit();
        Output {
            status,
            stdout: running.stdout(),
            stderr: running.log().into_bytes(),
        }
    }
}

/// A started process; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Running {
    child: Option<Child>,
    pid: Pid,
    shown: String,
    log: Arc<Pipe>,
    stdout: Arc<Pipe>,
    deadline: Duration,
    status: Option<ExitStatus>,
    /// The first TCP address of the ready line (`127.0.0.1:PORT`, `[::1]:PORT`), once
    /// [`Running::wait_ready`] saw it; empty before, and when the service listens on no TCP
    /// address.
    pub addr: String,
}

impl Running {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid, signal).unwrap_or_else(|e| panic!("signal {signal} to {}: {e}", self.shown));
    }

    /// Everything logged so far (the last [`pipe::KEEP`] bytes of it).
    pub fn log(&self) -> String {
        self.log.lock().text.clone()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log.lock();
        let lines: Vec<&str> = log.text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// What the process wrote on standard output so far (as text).
    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().text.clone().into_bytes()
    }

    /// Waits until the log holds `needle` at least `count` times; fails after the deadline,
    /// or as soon as the log has ended without it.
    pub fn wait_log(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + self.deadline;
        let mut log = self.log.lock();
        while log.text.matches(needle).count() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero() && !log.ended,
                "{needle:?} not logged {count} times by {} (within {:?}, log {}):\n{}",
                self.shown,
                self.deadline,
                if log.ended { "ended" } else { "open" },
                log.text
            );
            log = self.log.wait(log, left);
        }
        log.text.clone()
    }

    /// Waits for the `... ready on ADDRESSES: database ...` line (failing after the deadline
    /// or if the process ends first); its first TCP address, also kept in [`Running::addr`].
    pub fn wait_ready(&mut self) -> &str {
        let deadline = Instant::now() + self.deadline;
        let mut log = self.log.lock();
        let addr = loop {
            if let Some(addr) = ready_addr(&log.text) {
                break addr;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || log.ended {
                let text = log.text.clone();
                drop(log);
                let _ = self.child.as_mut().map(Child::kill);
                let ended = if left.is_zero() { "not ready" } else { "ended" };
                panic!("{} {ended} within {:?}:\n{text}", self.shown, self.deadline);
            }
            log = self.log.wait(log, left);
        };
        drop(log);
        self.addr = addr;
        &self.addr
    }

    /// Whether the process has exited (and been reaped), without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.child = None;
            self.status = Some(status);
            self.wait_pipes();
        }
        self.status
    }

    /// Waits for the process to exit by itself (killed, and failing, after the deadline); its
    /// status, once its log is complete.
    pub fn wait_exit(&mut self) -> ExitStatus {
        match self.exit_within(self.deadline) {
            Some(status) => status,
            None => {
                let status = self.kill();
                panic!(
                    "{} still running after {:?} (killed: {status}):\n{}",
                    self.shown,
                    self.deadline,
                    self.log()
                );
            }
        }
    }

    /// SIGTERM, then waits for the exit (SIGKILL after the deadline): the status and how long
    /// the exit took, once the log is complete. Fails if the process was already reaped.
    pub fn stop(&mut self) -> (ExitStatus, Duration) {
        assert!(self.child.is_some(), "{} already ended", self.shown);
        let sent = Instant::now();
        let _ = kill(self.pid, Signal::SIGTERM);
        let status = self
            .exit_within(self.deadline)
            .unwrap_or_else(|| self.kill());
        (status, sent.elapsed())
    }

    /// Polls for the exit until `limit` has passed (another process's exit: no event here).
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Once the process has exited: waits (at most [`LOG_END`]) until everything it wrote on
    /// its standard output and error has been read.
    fn wait_pipes(&self) {
        let deadline = Instant::now() + LOG_END;
        self.log.wait_end(deadline);
        self.stdout.wait_end(deadline);
    }

    /// SIGKILL and reap.
    /// SIGKILL (a crash), and waits for the process to be gone and its log complete.
    pub fn kill(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("a child to kill");
        let _ = child.kill();
        let status = child.wait().expect("reap the killed process");
        self.status = Some(status);
        self.wait_pipes();
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

/// The first TCP address of the first `... ready on A, B: database ...` line of `log`
/// (`127.0.0.1:PORT`, `[::1]:PORT`; empty when all are unix sockets); `None` before that line.
fn ready_addr(log: &str) -> Option<String> {
    const READY: &str = " ready on ";
    let line = log.lines().find(|l| l.contains(READY))?;
    let list = &line[line.find(READY)? + READY.len()..];
    let list = list.split(": database").next().unwrap_or(list);
    let first = list.split(", ").find_map(|a| {
        a.strip_prefix("http://")
            .or_else(|| a.strip_prefix("https://"))
    });
    Some(first.unwrap_or_default().to_owned())
}
