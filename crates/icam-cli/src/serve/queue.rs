//! The bounded pool that runs network passes: at most `workers` jobs run at once (each on a
//! blocking thread: the passes are CPU-bound), at most `queue` more wait, and a job beyond
//! that is refused at once, with an estimate of when to retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::Semaphore;

/// The pool is full: retry after this many seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    pub retry_after_s: u64,
}

/// A job panicked (a bug; its message went to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Panicked;

pub struct Pool {
    /// Permits for the jobs running or waiting (`workers + queue`).
    admitted: Arc<Semaphore>,
    /// Permits for the jobs running (`workers`).
    running: Arc<Semaphore>,
    workers: usize,
    queue: usize,
    /// Mean job duration in milliseconds (exponentially weighted), for Retry-After.
    mean_ms: Arc<AtomicU64>,
}

impl Pool {
    pub fn new(workers: usize, queue: usize) -> Self {
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
            workers,
            queue,
            mean_ms: Arc::new(AtomicU64::new(1000)),
        }
    }

    /// Run `job` on a blocking thread when a worker is free; refused at once when `workers`
    /// jobs run and `queue` wait. A waiting job whose caller goes away leaves the queue; a
    /// running one finishes (and holds its worker until then).
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Result<T, Panicked>, Full> {
        let Ok(admitted) = self.admitted.clone().try_acquire_owned() else {
            return Err(Full {
                retry_after_s: self.retry_after_s(),
            });
        };
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        let mean_ms = self.mean_ms.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            let started = Instant::now();
            let out = job();
            let ms = started.elapsed().as_millis() as u64;
            let old = mean_ms.load(Ordering::Relaxed);
            mean_ms.store((3 * old + ms) / 4, Ordering::Relaxed);
            out
        });
        Ok(handle.await.map_err(|_| Panicked))
    }

    /// Seconds until a place is likely free: the jobs ahead, spread over the workers, at the
    /// mean job duration (at least 1).
    fn retry_after_s(&self) -> u64 {
        let mean = self.mean_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let rounds = (self.queue / self.workers + 1) as f64;
        ((mean * rounds).ceil() as u64).clamp(1, 600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With 1 worker and a queue of 1, a third job is refused while the first runs and the
    /// second waits; once they finish, jobs are admitted again. Jobs block on channels, so
    /// nothing depends on timing.
    #[test]
    fn full_pool_refuses_then_recovers() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool = Arc::new(Pool::new(1, 1));
            let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let go_rx = Arc::new(std::sync::Mutex::new(go_rx));
            let spawn = |v: u32| {
                let pool = pool.clone();
                let started = started_tx.clone();
                let go = go_rx.clone();
                tokio::spawn(async move {
                    pool.run(move || {
                        let _ = started.send(());
                        go.lock().unwrap().recv().unwrap();
                        v
                    })
                    .await
                })
            };
            let first = spawn(1);
            // The first job is running (it said so); the second is admitted and waits.
            tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
                .await
                .unwrap();
            let second = spawn(2);
            // Wait until the second holds its admission permit.
            while pool.admitted.available_permits() > 0 {
                tokio::task::yield_now().await;
            }
            let third = pool.run(|| 3).await;
            assert_eq!(third.unwrap_err().retry_after_s, 2, "mean 1 s × 2 rounds");
            go_tx.send(()).unwrap();
            go_tx.send(()).unwrap();
            assert_eq!(first.await.unwrap(), Ok(Ok(1)));
            assert_eq!(second.await.unwrap(), Ok(Ok(2)));
            assert_eq!(pool.run(|| 4).await, Ok(Ok(4)));
            assert_eq!(pool.admitted.available_permits(), 2);
            // A panicking job is reported, and its permits come back.
            let p = pool.run(|| -> u32 { panic!("a bug") }).await;
            assert_eq!(p, Ok(Err(Panicked)));
            assert_eq!(pool.admitted.available_permits(), 2);
        });
    }
}
