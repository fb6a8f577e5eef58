//! Server-side session rows. Keys arrive already hashed; the person id is kept in its own
//! column so every session of a person can be revoked at once.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::domain::UnixTime;

impl Store {
    pub async fn session_state(
        &self,
        key_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT state FROM sessions WHERE key_hash = $1 AND expires_at > $2")
            .bind(key_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|row| row.try_get("state")).transpose()?)
    }

    pub async fn insert_session(
        &self,
        key_hash: &str,
        person_id: Option<&str>,
        state: &str,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (key_hash, person_id, state, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(key_hash)
        .bind(person_id)
        .bind(state)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Returns false when the session no longer exists (revoked or expired meanwhile).
    pub async fn update_session(
        &self,
        key_hash: &str,
        person_id: Option<&str>,
        state: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE sessions SET person_id = $1, state = $2, expires_at = $3 \
             WHERE key_hash = $4 AND expires_at > $5",
        )
        .bind(person_id)
        .bind(state)
        .bind(expires_at)
        .bind(key_hash)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn touch_session(&self, key_hash: &str, expires_at: UnixTime) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE key_hash = $2")
            .bind(expires_at)
            .bind(key_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, key_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE key_hash = $1")
            .bind(key_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Signs a person out everywhere (password change, lock). Returns how many ended.
    pub async fn revoke_sessions_of(&self, person_id: &str) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE person_id = $1")
            .bind(person_id)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }

    pub async fn delete_expired_sessions(&self, now: UnixTime) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }

    /// When each of the person's live sessions expires, soonest first.
    pub async fn session_expiries_of(
        &self,
        person_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<UnixTime>> {
        let rows = sqlx::query(
            "SELECT expires_at FROM sessions WHERE person_id = $1 AND expires_at > $2 \
             ORDER BY expires_at",
        )
        .bind(person_id)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| sqlx::Row::try_get::<i64, _>(row, "expires_at").map_err(Into::into))
            .collect()
    }
}
