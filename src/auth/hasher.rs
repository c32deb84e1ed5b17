//! The one thread that runs Argon2. Each hash needs 9 MiB for a moment; running them all on
//! one long-lived thread keeps that memory in one allocator arena (glibc gives each thread of
//! tokio's blocking pool an arena of its own, and nine logins on nine threads kept 69 MiB
//! resident in the benchmark), and one job at a time bounds it: callers wait for their turn
//! asynchronously, with a deadline, and never block an async thread.
//!
//! Fairness: the queue for the turn holds at most one job per client address (its *lane*);
//! an address's further jobs wait in its lane. So a burst from one address puts one job ahead
//! of everybody else's, not all of them, and the owner's login waits for at most one hash per
//! other address that is trying at the same time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use crate::model::error::{Code, Error};

type Job = Box<dyn FnOnce() + Send>;

/// Whose job it is: the client's address (`None`: a unix-socket client).
type Lane = Option<IpAddr>;

/// The lanes in use: each one's turn (one job of the lane at a time) and how many callers
/// hold it; a lane is removed when its last caller is done, so the map holds no more lanes
/// than there are callers (bounded by the connection limit).
type Lanes = Mutex<HashMap<Lane, (Arc<Semaphore>, usize)>>;

pub struct Hasher {
    jobs: Mutex<SyncSender<Job>>,
    /// One caller at a time hands a job over; the others wait here, asynchronously, in order.
    turn: Arc<Semaphore>,
    lanes: Arc<Lanes>,
}

/// A caller's place in its lane; leaving (also when the caller goes away) may end the lane.
struct InLane {
    lanes: Arc<Lanes>,
    lane: Lane,
    turn: Arc<Semaphore>,
}

impl InLane {
    fn join(lanes: &Arc<Lanes>, lane: Lane) -> Result<InLane, Error> {
        let mut map = lanes
            .lock()
            .map_err(|_| Error::internal("the password queue is broken"))?;
        let (turn, users) = map
            .entry(lane)
            .or_insert_with(|| (Arc::new(Semaphore::new(1)), 0));
        *users += 1;
        Ok(InLane {
            lanes: lanes.clone(),
            lane,
            turn: turn.clone(),
        })
    }
}

impl Drop for InLane {
    fn drop(&mut self) {
        if let Ok(mut map) = self.lanes.lock()
            && let Some((_, users)) = map.get_mut(&self.lane)
        {
            *users -= 1;
            if *users == 0 {
                map.remove(&self.lane);
            }
        }
    }
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
            lanes: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Runs `f` for a client at `lane` on the thread once it is free and the lane's earlier
    /// jobs are done; `503` if that takes longer than `wait`.
    pub async fn run<T: Send + 'static>(
        &self,
        lane: Lane,
        wait: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let busy = || {
            Error::new(
                Code::Unavailable,
                "too many logins at once, try again in a few seconds",
            )
        };
        let closed = |_| Error::internal("the password thread is closed");
        let deadline = tokio::time::Instant::now() + wait;
        let place = InLane::join(&self.lanes, lane)?;
        let lane_permit = tokio::time::timeout_at(deadline, place.turn.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(closed)?;
        let permit = tokio::time::timeout_at(deadline, self.turn.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(closed)?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
            drop(permit); // the next caller may hand over its job
            drop(lane_permit); // and then this lane's next one may queue
        });
        // A turn is given back only from inside a job the thread has already taken, so the
        // one-slot channel is always empty here.
        self.jobs
            .lock()
            .map_err(|_| Error::internal("the password thread is broken"))?
            .try_send(job)
            .map_err(|_| Error::internal("the password thread is gone or stuck"))?;
        let out = rx
            .await
            .map_err(|_| Error::internal("the password thread failed"));
        drop(place);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A burst from one address queues behind itself: another address's job runs after at most
    /// the one that is running.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_address_cannot_fill_the_queue_ahead_of_another() {
        let h = Arc::new(Hasher::start().unwrap());
        let (a, b): (Lane, Lane) = (Some([10, 0, 0, 1].into()), Some([10, 0, 0, 2].into()));
        let release = Arc::new(AtomicBool::new(false));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in 0..6 {
            let (h, release, order) = (h.clone(), release.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                h.run(a, Duration::from_secs(20), move || {
                    while n == 0 && !release.load(Ordering::Acquire) {
                        std::thread::yield_now();
                    }
                    order.lock().unwrap().push(format!("a{n}"));
                })
                .await
            }));
            tokio::task::yield_now().await;
        }
        // The first of a's jobs holds the thread; the rest wait in a's lane.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while h.lanes.lock().unwrap().get(&a).map(|l| l.1) != Some(6) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a's jobs never queued"
            );
            tokio::task::yield_now().await;
        }
        let (h2, order2) = (h.clone(), order.clone());
        let other = tokio::spawn(async move {
            h2.run(b, Duration::from_secs(20), move || {
                order2.lock().unwrap().push("b".into())
            })
            .await
        });
        while h.lanes.lock().unwrap().get(&b).is_none() {
            assert!(tokio::time::Instant::now() < deadline, "b never queued");
            tokio::task::yield_now().await;
        }
        release.store(true, Ordering::Release);
        other.await.unwrap().unwrap();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap().clone();
        let b_at = order.iter().position(|s| s == "b").unwrap();
        assert!(b_at <= 2, "b ran after {b_at} of a's jobs: {order:?}");
        assert!(
            h.lanes.lock().unwrap().is_empty(),
            "lanes are removed when done"
        );
    }
}
