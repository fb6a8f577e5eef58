//! The keys that sign access tokens, kept in the database so that every instance signs
//! and verifies with the same ones.

use sqlx::Row;

use super::audit::AuditEvent;
use super::{Store, StoreResult};
use crate::domain::UnixTime;

#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 DER, base64.
    pub private_key: String,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
}

pub struct NewKey<'a> {
    pub kid: &'a str,
    pub algorithm: &'a str,
    pub private_key: &'a str,
}

impl Store {
    /// Keys still published (never retired, or retired after `retired_after`): the one
    /// that signs (not retired) first, then the retired ones, newest first.
    pub async fn signing_keys(&self, retired_after: UnixTime) -> StoreResult<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, private_key, created_at, retired_at FROM signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, retired_at DESC, created_at DESC, kid",
        )
        .bind(retired_after)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredKey {
                    kid: row.try_get("kid")?,
                    algorithm: row.try_get("algorithm")?,
                    private_key: row.try_get("private_key")?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect()
    }

    /// Adds a key that signs from now on; the keys before it are retired (still published
    /// for verifying what they signed). With `only_if_none`, adds it only when there is
    /// no key yet (first start) and says whether it did.
    pub async fn add_signing_key(
        &self,
        key: NewKey<'_>,
        only_if_none: bool,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let mut work = self.begin(now).await?;
        if only_if_none {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM signing_keys")
                .fetch_one(work.conn())
                .await?;
            if row.try_get::<i64, _>("n")? > 0 {
                return Ok(false);
            }
        }
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now)
            .execute(work.conn())
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, private_key, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(key.kid)
        .bind(key.algorithm)
        .bind(key.private_key)
        .bind(now)
        .execute(work.conn())
        .await?;
        work.commit_unqueued(None, event).await?;
        Ok(true)
    }
}
