//! uidNumber/gidNumber counters. A counter only moves forward, in one atomic statement, so
//! a number is never handed out twice (not across instances either) and never reused.

use sqlx::Row;

use super::{Store, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Uid,
    Gid,
}

impl IdKind {
    const fn as_str(self) -> &'static str {
        match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        }
    }
}

impl Store {
    /// Takes the next number of the range, or `None` when the range is used up. Callers
    /// skip numbers the directory already holds by simply taking the next one.
    pub async fn take_id_number(
        &self,
        kind: IdKind,
        min: i64,
        max: i64,
    ) -> StoreResult<Option<i64>> {
        let mut conn = self.pool().acquire().await?;
        sqlx::query("INSERT INTO id_counters (kind, next_value) VALUES ($1, $2) ON CONFLICT (kind) DO NOTHING")
            .bind(kind.as_str())
            .bind(min)
            .execute(&mut *conn)
            .await?;
        // A raised minimum in the configuration moves the counter up, never down.
        let row = sqlx::query(
            "UPDATE id_counters SET next_value = \
               (CASE WHEN next_value < $2 THEN $2 ELSE next_value END) + 1 \
             WHERE kind = $1 AND (CASE WHEN next_value < $2 THEN $2 ELSE next_value END) <= $3 \
             RETURNING next_value - 1 AS taken",
        )
        .bind(kind.as_str())
        .bind(min)
        .bind(max)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|row| row.try_get::<i64, _>("taken")).transpose()?)
    }
}

impl Store {
    /// Claims a gidNumber for `owner` (an organisation or a person's private group).
    /// False when something else claimed it first; a claimed number is never reused.
    pub async fn claim_gid_number(&self, number: i64, owner: &str, now: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "INSERT INTO gid_claims (gid_number, claimed_by, claimed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (gid_number) DO NOTHING",
        )
        .bind(number)
        .bind(owner)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Claims a uidNumber for a person. False when something else holds it (an adopted
    /// entry, or another instance's allocation); a claimed number is never reused.
    pub async fn claim_uid_number(&self, number: i64, owner: &str, now: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "INSERT INTO uid_claims (uid_number, claimed_by, claimed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (uid_number) DO NOTHING",
        )
        .bind(number)
        .bind(owner)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
