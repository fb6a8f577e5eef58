//! SSH public keys of an account. Every change queues the account's directory sync, which
//! rewrites its `sshPublicKey` values to exactly this list.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::AuditEvent;
use super::jobs::JobKind;
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult, is_unique_violation, new_id};
use crate::domain::{SshPublicKey, UnixTime};

/// Most keys one account may hold.
pub const MAX_KEYS: i64 = 20;

#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: String,
    pub fingerprint: String,
    pub algorithm: String,
    pub bits: Option<i64>,
    pub comment: String,
    pub openssh: String,
    pub created_at: UnixTime,
}

fn from_row(row: &AnyRow) -> StoreResult<StoredKey> {
    Ok(StoredKey {
        id: row.try_get("id")?,
        fingerprint: row.try_get("fingerprint")?,
        algorithm: row.try_get("algorithm")?,
        bits: row.try_get("bits")?,
        comment: row.try_get("comment")?,
        openssh: row.try_get("openssh")?,
        created_at: row.try_get("created_at")?,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AddKeyError {
    #[error("this key is already in use")]
    Duplicate,
    #[error("the account already has the most keys allowed")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AddKeyError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

impl Store {
    pub async fn keys_of(&self, person_id: &str) -> StoreResult<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT id, fingerprint, algorithm, bits, comment, openssh, created_at FROM ssh_keys \
             WHERE person_id = $1 ORDER BY created_at, id",
        )
        .bind(person_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn add_key(
        &self,
        person_id: &str,
        key: &SshPublicKey,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Receipt, AddKeyError> {
        let mut work = self.begin(now).await?;
        let inserted = sqlx::query(
            "INSERT INTO ssh_keys (id, person_id, fingerprint, algorithm, bits, comment, openssh, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(person_id)
        .bind(&key.fingerprint)
        .bind(&key.algorithm)
        .bind(key.bits.and_then(|bits| i64::try_from(bits).ok()))
        .bind(&key.comment)
        .bind(&key.openssh)
        .bind(now)
        .execute(work.conn())
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => return Err(AddKeyError::Duplicate),
            Err(error) => return Err(error.into()),
        }
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ssh_keys WHERE person_id = $1")
            .bind(person_id)
            .fetch_one(work.conn())
            .await?
            .try_get("n")?;
        if count > MAX_KEYS {
            return Err(AddKeyError::TooMany);
        }
        work.queue(JobKind::SyncAccount, person_id);
        Ok(work.commit(Some(person_id), event).await?)
    }

    /// Removes one of the person's keys; `None` when they have no such key.
    pub async fn remove_key(
        &self,
        person_id: &str,
        key_id: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Option<Receipt>> {
        let mut work = self.begin(now).await?;
        let removed = sqlx::query("DELETE FROM ssh_keys WHERE id = $1 AND person_id = $2")
            .bind(key_id)
            .bind(person_id)
            .execute(work.conn())
            .await?;
        if removed.rows_affected() != 1 {
            return Ok(None);
        }
        work.queue(JobKind::SyncAccount, person_id);
        Ok(Some(work.commit(Some(person_id), event).await?))
    }
}
