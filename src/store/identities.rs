//! Identities at an OpenID Connect provider, linked to accounts by (issuer, subject).

use sqlx::Row;

use super::audit::AuditEvent;
use super::{Store, StoreResult, is_unique_violation};
use crate::domain::UnixTime;

/// One linked identity, as the account page shows it.
#[derive(Debug, Clone)]
pub struct LinkedIdentity {
    pub issuer: String,
    pub subject: String,
    pub email_at_link: Option<String>,
    pub linked_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

impl Store {
    /// The account an identity is linked to, if any; records the use.
    pub async fn person_for_identity(
        &self,
        issuer: &str,
        subject: &str,
        now: UnixTime,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "UPDATE oidc_links SET last_used_at = $1 WHERE issuer = $2 AND subject = $3 \
             RETURNING person_id",
        )
        .bind(now)
        .bind(issuer)
        .bind(subject)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| row.try_get::<String, _>("person_id").map_err(Into::into))
            .transpose()
    }

    /// Links an identity to an account; false when the identity is already linked (to
    /// this or another account), which is left as it is.
    pub async fn link_identity(
        &self,
        person_id: &str,
        identity: (&str, &str),
        email: Option<&str>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let (issuer, subject) = identity;
        let mut work = self.begin(now).await?;
        let inserted = sqlx::query(
            "INSERT INTO oidc_links (issuer, subject, person_id, email_at_link, linked_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(person_id)
        .bind(email)
        .bind(now)
        .execute(work.conn())
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => return Ok(false),
            Err(error) => return Err(error.into()),
        }
        work.commit_unqueued(Some(person_id), event).await?;
        Ok(true)
    }

    pub async fn identities_of(&self, person_id: &str) -> StoreResult<Vec<LinkedIdentity>> {
        let rows = sqlx::query(
            "SELECT issuer, subject, email_at_link, linked_at, last_used_at FROM oidc_links \
             WHERE person_id = $1 ORDER BY linked_at, issuer, subject",
        )
        .bind(person_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LinkedIdentity {
                    issuer: row.try_get("issuer")?,
                    subject: row.try_get("subject")?,
                    email_at_link: row.try_get("email_at_link")?,
                    linked_at: row.try_get("linked_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// Removes one of the person's linked identities; false when they have no such link.
    pub async fn unlink_identity(
        &self,
        person_id: &str,
        identity: (&str, &str),
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let (issuer, subject) = identity;
        let mut work = self.begin(now).await?;
        let removed = sqlx::query(
            "DELETE FROM oidc_links WHERE person_id = $1 AND issuer = $2 AND subject = $3",
        )
        .bind(person_id)
        .bind(issuer)
        .bind(subject)
        .execute(work.conn())
        .await?;
        if removed.rows_affected() != 1 {
            return Ok(false);
        }
        work.commit_unqueued(Some(person_id), event).await?;
        Ok(true)
    }
}
