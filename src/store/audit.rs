//! The audit trail: who did what, when, to whom, from which address.

use super::{Store, StoreResult, new_id};
use crate::domain::UnixTime;

#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub subject_id: Option<&'a str>,
    pub organisation_id: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    /// Free text for people reading the trail; never a secret.
    pub details: String,
}

pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    event: &AuditEvent<'_>,
    now: UnixTime,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, actor_id, action, subject_id, \
         organisation_id, client_ip, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(now)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.subject_id)
    .bind(event.organisation_id)
    .bind(event.client_ip)
    .bind(&event.details)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn record_audit(&self, event: &AuditEvent<'_>, now: UnixTime) -> StoreResult<()> {
        let mut conn = self.pool().acquire().await?;
        insert(&mut conn, event, now).await
    }

    /// The newest events about one subject, for history pages.
    pub async fn audit_actions_for(&self, subject_id: &str) -> StoreResult<Vec<String>> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT action FROM audit_events WHERE subject_id = $1 ORDER BY occurred_at DESC",
        )
        .bind(subject_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("action").map_err(Into::into))
            .collect()
    }
}
