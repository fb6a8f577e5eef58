//! bcrypt hashing on a few dedicated threads at idle CPU priority, with equal cost for
//! unknown accounts.
//!
//! bcrypt is pure CPU and takes about 0.3 s at cost 12. Run on ordinary threads, a burst
//! of sign-ins takes every core and stalls the threads serving pages. Here hashes queue
//! for a fixed pool whose threads run under Linux `SCHED_IDLE`: they use only the CPU
//! time that page serving, the job worker and the load balancer leave free, so a cheap
//! page stays fast while sign-ins hash.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, oneshot};

use crate::domain::NewPassword;
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("hashing threads are shut down")]
    Closed,
    /// The hash waited longer than allowed for a thread: too many at once.
    #[error("too many passwords are being checked at once")]
    Busy,
}

type HashJob = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    /// A hash not started within this time is given up with [`PasswordError::Busy`], so a
    /// flood of sign-ins gets a quick "try again" instead of ever longer waits.
    max_wait: Duration,
    jobs: std::sync::mpsc::Sender<HashJob>,
    /// Hash checked when no account matches, so a miss costs as much as a wrong password.
    dummy_hash: Arc<OnceCell<String>>,
    /// Queue depth and waits, when the portal counts them.
    metrics: Option<Metrics>,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads; they end when the last clone is dropped.
    pub fn new(cost: u32, threads: usize, max_wait: Duration) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<HashJob>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("bcrypt-{index}"))
                .spawn(move || run_hash_thread(&queue));
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a hashing thread");
            }
        }
        Self {
            cost,
            max_wait,
            jobs,
            dummy_hash: Arc::new(OnceCell::new()),
            metrics: None,
        }
    }

    /// Counts the queue's depth and each hash's wait for a thread in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub async fn hash(&self, password: &NewPassword) -> Result<String, PasswordError> {
        let password = password.expose().to_string();
        let cost = self.cost;
        self.run(move || bcrypt::hash(password, cost))
            .await?
            .map_err(Into::into)
    }

    /// Checks `candidate` against `stored`; with no stored hash it checks a dummy one and
    /// returns false, taking the same time. A candidate over 72 bytes never matches: bcrypt
    /// would compare only its first 72 bytes, so "secret + anything" would pass.
    pub async fn verify(
        &self,
        candidate: &str,
        stored: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let too_long = candidate.len() > crate::domain::MAX_PASSWORD_BYTES;
        let (hash, known) = match stored {
            Some(hash) if !too_long => (hash.to_string(), true),
            _ => (self.dummy().await?, false),
        };
        let candidate: Vec<u8> = candidate
            .bytes()
            .take(crate::domain::MAX_PASSWORD_BYTES)
            .collect();
        let matches = self.run(move || bcrypt::verify(candidate, &hash)).await??;
        Ok(known && matches)
    }

    async fn dummy(&self) -> Result<String, PasswordError> {
        let cost = self.cost;
        self.dummy_hash
            .get_or_try_init(|| async move {
                Ok::<_, PasswordError>(
                    self.run(move || bcrypt::hash("roster-dummy-password-for-timing", cost))
                        .await??,
                )
            })
            .await
            .cloned()
    }

    /// Queues `work` for the hashing threads and waits for its result.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (reply, result) = oneshot::channel();
        let queued_at = Instant::now();
        let max_wait = self.max_wait;
        let metrics = self.metrics.clone();
        if let Some(metrics) = &metrics {
            metrics.hash_queued();
        }
        let job: HashJob = Box::new(move || {
            if let Some(metrics) = &metrics {
                metrics.hash_dequeued(queued_at.elapsed());
            }
            // Nobody waits any more (the client left): skip the work.
            if reply.is_closed() {
                return;
            }
            if queued_at.elapsed() > max_wait {
                let _ = reply.send(Err(PasswordError::Busy));
                return;
            }
            // The waiter may have gone meanwhile; nothing to tell then.
            let _ = reply.send(Ok(work()));
        });
        if self.jobs.send(job).is_err() {
            if let Some(metrics) = &self.metrics {
                metrics.hash_not_queued();
            }
            return Err(PasswordError::Closed);
        }
        result.await.map_err(|_| PasswordError::Closed)?
    }
}

fn run_hash_thread(queue: &Mutex<std::sync::mpsc::Receiver<HashJob>>) {
    lower_own_priority();
    loop {
        // Hold the lock only to take one job, so the other threads can take the next.
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_own_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(error) =
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
    {
        tracing::warn!(?error, "hashing threads keep normal priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_own_priority() {
    if let Err(error) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::warn!(?error, "hashing threads keep normal priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_and_a_miss_takes_the_dummy_path()
    -> Result<(), Box<dyn std::error::Error>> {
        let hasher = PasswordHasher::new(4, 2, Duration::from_secs(10));
        let typed = "plum tractor violin 42";
        let password = NewPassword::parse(typed, typed, &[]).map_err(|e| format!("{e:?}"))?;
        let hash = hasher.hash(&password).await?;
        assert!(hasher.verify(typed, Some(&hash)).await?);
        assert!(!hasher.verify("wrong", Some(&hash)).await?);
        assert!(!hasher.verify(typed, None).await?);
        Ok(())
    }

    #[tokio::test]
    async fn more_than_72_bytes_never_verify_against_the_first_72()
    -> Result<(), Box<dyn std::error::Error>> {
        let hasher = PasswordHasher::new(4, 2, Duration::from_secs(10));
        let typed = format!("{:.<72}", "plum tractor violin 42 harbour lantern ");
        assert_eq!(typed.len(), 72);
        let password = NewPassword::parse(&typed, &typed, &[]).map_err(|e| format!("{e:?}"))?;
        let hash = hasher.hash(&password).await?;
        assert!(hasher.verify(&typed, Some(&hash)).await?);
        // bcrypt alone would say yes: it reads only the first 72 bytes.
        assert!(bcrypt::verify(format!("{typed}x"), &hash)?);
        assert!(!hasher.verify(&format!("{typed}x"), Some(&hash)).await?);
        Ok(())
    }

    #[tokio::test]
    async fn a_hash_that_waited_too_long_is_given_up_as_busy() {
        let hasher = PasswordHasher::new(4, 1, Duration::from_millis(50));
        let blocker = hasher.run(|| std::thread::sleep(Duration::from_millis(200)));
        let late = hasher.run(|| ());
        let (first, second) = tokio::join!(blocker, late);
        assert!(first.is_ok());
        assert!(matches!(second, Err(PasswordError::Busy)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_threads_run_at_idle_priority() -> Result<(), Box<dyn std::error::Error>> {
        let hasher = PasswordHasher::new(4, 1, Duration::from_secs(10));
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let policy = runtime.block_on(hasher.run(|| {
            thread_priority::thread_schedule_policy().map_err(|error| format!("{error:?}"))
        }))??;
        assert_eq!(
            policy,
            thread_priority::ThreadSchedulePolicy::Normal(
                thread_priority::NormalThreadSchedulePolicy::Idle
            )
        );
        Ok(())
    }
}
