//! What a child process writes on a pipe (its log, its standard output), kept as text as it
//! grows, whole lines at a time, with a condition variable to wait for more or for the end.
//! Part of `spawn.rs`.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How much is kept; older lines are dropped beyond it.
pub const KEEP: usize = 4 << 20;

/// What a process writes on a pipe (its log, its standard output), as text as it grows, and
/// whether it has ended (the pipe closed).
#[derive(Default)]
pub struct Pipe {
    state: Mutex<PipeState>,
    grew: Condvar,
}

#[derive(Default)]
pub struct PipeState {
    /// What was read so far (the last [`KEEP`] bytes of it, whole lines).
    pub text: String,
    /// Whether the pipe has closed.
    pub ended: bool,
}

impl Pipe {
    pub fn lock(&self) -> MutexGuard<'_, PipeState> {
        lock(&self.state)
    }

    /// Waits at most `left` for more (or the end).
    pub fn wait<'a>(
        &self,
        guard: MutexGuard<'a, PipeState>,
        left: Duration,
    ) -> MutexGuard<'a, PipeState> {
        match self.grew.wait_timeout(guard, left) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// Reads whole lines from the pipe until it closes.
    pub fn drain(&self, pipe: impl Read) {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let mut log = self.lock();
            log.text.push_str(&String::from_utf8_lossy(&line));
            if log.text.len() > KEEP {
                // Whole lines only: the cut is just after a newline.
                let from = log.text.len() - KEEP / 2;
                let newline = log.text.as_bytes()[from..].iter().position(|&b| b == b'\n');
                log.text.drain(..newline.map_or(0, |i| from + i + 1));
            }
            drop(log);
            self.grew.notify_all();
            line.clear();
        }
        self.lock().ended = true;
        self.grew.notify_all();
    }

    /// Waits (until `deadline` at most) until the pipe has closed: everything written to it
    /// has been read.
    pub fn wait_end(&self, deadline: Instant) {
        let mut log = self.lock();
        while !log.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            log = self.wait(log, left);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
