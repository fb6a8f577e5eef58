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

    /// The table of claimed numbers, and its number column.
    pub(crate) const fn claims(self) -> (&'static str, &'static str) {
        match self {
            IdKind::Uid => ("uid_claims", "uid_number"),
            IdKind::Gid => ("gid_claims", "gid_number"),
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
    /// Claims a number for `owner` (a uidNumber for a person; a gidNumber for an
    /// organisation, a resource or a private group). False when something else holds it
    /// (an adopted entry, or another instance's allocation); a claimed number is never
    /// reused.
    pub async fn claim_id_number(
        &self,
        kind: IdKind,
        number: i64,
        owner: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let (table, column) = kind.claims();
        let result = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} ({column}, claimed_by, claimed_at) VALUES ($1, $2, $3) \
             ON CONFLICT ({column}) DO NOTHING"
        )))
        .bind(number)
        .bind(owner)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
