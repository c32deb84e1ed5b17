//! The one thread that runs Argon2. Each hash needs 9 MiB for a moment; running them all on
//! one long-lived thread keeps that memory in one allocator arena (glibc gives each thread of
//! tokio's blocking pool an arena of its own, and nine logins on nine threads kept 69 MiB
//! resident in the benchmark), and one job at a time bounds it: callers wait for their turn
//! asynchronously, with a deadline, and never block an async thread.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use crate::model::error::{Code, Error};

type Job = Box<dyn FnOnce() + Send>;

pub struct Hasher {
    jobs: Mutex<SyncSender<Job>>,
    /// One caller at a time hands a job over; the others wait here, asynchronously.
    turn: Arc<Semaphore>,
}

impl Hasher {
    /// Starts the thread.
    pub fn start() -> Result<Hasher, String> {
        let (tx, rx) = sync_channel::<Job>(1);
        std::thread::Builder::new()
            .name("lanterm-argon2".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            })
            .map_err(|e| format!("starting the password thread: {e}"))?;
        Ok(Hasher {
            jobs: Mutex::new(tx),
            turn: Arc::new(Semaphore::new(1)),
        })
    }

    /// Runs `f` on the thread once it is free; `503` if that takes longer than `wait`.
    pub async fn run<T: Send + 'static>(
        &self,
        wait: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let busy = || {
            Error::new(
                Code::Unavailable,
                "too many logins at once, try again in a few seconds",
            )
        };
        let permit = tokio::time::timeout(wait, self.turn.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| Error::internal("the password thread is closed"))?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
            drop(permit); // the next caller may hand over its job
        });
        // A turn is given back only from inside a job the thread has already taken, so the
        // one-slot channel is always empty here.
        self.jobs
            .lock()
            .map_err(|_| Error::internal("the password thread is broken"))?
            .try_send(job)
            .map_err(|_| Error::internal("the password thread is gone or stuck"))?;
        rx.await
            .map_err(|_| Error::internal("the password thread failed"))
    }
}
