//! Server-side session rows. Keys arrive already hashed; the person id is kept in its own
//! column so every session of a person can be revoked at once. A session ends at its
//! absolute expiry (`expires_at`, fixed when it is made) or after being idle: callers pass
//! `idle_since`, the last-use time before which a session counts as idle.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::domain::UnixTime;

/// How often a session's last use is written: more often would cost a write per request.
const SEEN_GRANULARITY_SECONDS: i64 = 60;

impl Store {
    /// The state of a live session, noting that it was used now.
    pub async fn session_state(
        &self,
        key_hash: &str,
        now: UnixTime,
        idle_since: UnixTime,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT state, last_seen_at FROM sessions WHERE key_hash = $1 AND expires_at > $2 \
             AND last_seen_at > $3",
        )
        .bind(key_hash)
        .bind(now)
        .bind(idle_since)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        // Most requests only read: the last use is written at most once a minute.
        let last_seen: UnixTime = row.try_get("last_seen_at")?;
        if now - last_seen >= SEEN_GRANULARITY_SECONDS {
            self.mark_session_seen(key_hash, now).await?;
        }
        Ok(Some(row.try_get("state")?))
    }

    /// Records that the session was used now (at most once a minute).
    pub async fn mark_session_seen(&self, key_hash: &str, now: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE key_hash = $2 AND last_seen_at < $3",
        )
        .bind(now)
        .bind(key_hash)
        .bind(now - SEEN_GRANULARITY_SECONDS)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn insert_session(
        &self,
        key_hash: &str,
        person_id: Option<&str>,
        state: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (key_hash, person_id, state, expires_at, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(key_hash)
        .bind(person_id)
        .bind(state)
        .bind(expires_at)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores new state; the absolute expiry stays. Returns false when the session no
    /// longer exists (revoked, expired or idle meanwhile).
    pub async fn update_session(
        &self,
        key_hash: &str,
        person_id: Option<&str>,
        state: &str,
        now: UnixTime,
        idle_since: UnixTime,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE sessions SET person_id = $1, state = $2, last_seen_at = $3 \
             WHERE key_hash = $4 AND expires_at > $3 AND last_seen_at > $5",
        )
        .bind(person_id)
        .bind(state)
        .bind(now)
        .bind(key_hash)
        .bind(idle_since)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
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

    /// Removes sessions past their expiry or idle since before `idle_since`.
    pub async fn delete_expired_sessions(
        &self,
        now: UnixTime,
        idle_since: UnixTime,
    ) -> StoreResult<u64> {
        let result =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now)
                .bind(idle_since)
                .execute(self.pool())
                .await?;
        Ok(result.rows_affected())
    }

    /// How many session rows exist, live or not (tests and operators watch it).
    pub async fn session_count(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM sessions")
            .fetch_one(self.pool())
            .await?
            .try_get("n")?)
    }

    /// When each of the person's live sessions expires at the latest, soonest first.
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
