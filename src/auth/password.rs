//! bcrypt hashing off the async executor, with equal cost for unknown accounts.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::domain::NewPassword;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("hashing is shut down")]
    Closed(#[from] tokio::sync::AcquireError),
}

#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    /// bcrypt is pure CPU: at most this many hashes run at once, so a burst of sign-ins
    /// queues for the blocking threads instead of starving the threads serving pages.
    permits: Arc<tokio::sync::Semaphore>,
    /// Hash checked when no account matches, so a miss costs as much as a wrong password.
    dummy_hash: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    pub fn new(cost: u32, max_concurrent: usize) -> Self {
        Self {
            cost,
            permits: Arc::new(tokio::sync::Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    pub async fn hash(&self, password: &NewPassword) -> Result<String, PasswordError> {
        let password = password.expose().to_string();
        let cost = self.cost;
        let _permit = self.permits.acquire().await?;
        let hash = tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??;
        Ok(hash)
    }

    /// Checks `candidate` against `stored`; with no stored hash it checks a dummy one and
    /// returns false, taking the same time.
    pub async fn verify(
        &self,
        candidate: &str,
        stored: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let (hash, known) = match stored {
            Some(hash) => (hash.to_string(), true),
            None => (self.dummy().await?, false),
        };
        let candidate = candidate.to_string();
        let _permit = self.permits.acquire().await?;
        let matches =
            tokio::task::spawn_blocking(move || bcrypt::verify(candidate, &hash)).await??;
        Ok(known && matches)
    }

    async fn dummy(&self) -> Result<String, PasswordError> {
        let cost = self.cost;
        self.dummy_hash
            .get_or_try_init(|| async move {
                let hash = tokio::task::spawn_blocking(move || {
                    bcrypt::hash("roster-dummy-password-for-timing", cost)
                })
                .await??;
                Ok::<_, PasswordError>(hash)
            })
            .await
            .cloned()
    }
}
