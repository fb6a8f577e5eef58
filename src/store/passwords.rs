//! Password changes and reset links. A new password reaches LDAP through the account's
//! sync job, and every session of the person ends.

use sqlx::Row;

use super::audit::AuditEvent;
use super::jobs::JobKind;
use super::mail_outbox::{self, QueuedMail};
use super::unit_of_work::{Receipt, UnitOfWork};
use super::{Store, StoreResult, new_id};
use crate::domain::{TokenHash, UnixTime};

/// The new hash, the end of every session of the person, and the directory update.
async fn write_password(
    work: &mut UnitOfWork<'_>,
    person_id: &str,
    password_hash: &str,
) -> StoreResult<()> {
    let now = work.now();
    sqlx::query("UPDATE people SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now)
        .bind(person_id)
        .execute(work.conn())
        .await?;
    sqlx::query("DELETE FROM sessions WHERE person_id = $1")
        .bind(person_id)
        .execute(work.conn())
        .await?;
    work.queue(JobKind::SyncAccount, person_id);
    Ok(())
}

/// At most `mails` reset links per person since `since`.
#[derive(Debug, Clone, Copy)]
pub struct ResetBudget {
    pub mails: i64,
    pub since: UnixTime,
}

impl Store {
    /// Stores a new password hash, queues the directory update and ends every session of
    /// the person, in one transaction.
    pub async fn set_password(
        &self,
        person_id: &str,
        password_hash: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Receipt> {
        let mut work = self.begin(now).await?;
        write_password(&mut work, person_id, password_hash).await?;
        work.commit(Some(person_id), event).await
    }

    /// Changes a person's names (and the member-list keys and versions that show them).
    pub async fn rename_person(
        &self,
        person_id: &str,
        surname: &str,
        given_name: Option<&str>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Receipt> {
        let mut work = self.begin(now).await?;
        sqlx::query(
            "UPDATE people SET surname = $1, given_name = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(surname)
        .bind(given_name)
        .bind(now)
        .bind(person_id)
        .execute(work.conn())
        .await?;
        work.queue(JobKind::SyncAccount, person_id);
        work.commit(Some(person_id), event).await
    }

    /// Stores a reset link; with a budget, only when fewer than `budget.mails` links were
    /// made for the person since `budget.since` (false otherwise).
    pub async fn create_password_reset(
        &self,
        person_id: &str,
        token_hash: &TokenHash,
        expires_at: UnixTime,
        budget: Option<ResetBudget>,
        (mail, caused_by): (QueuedMail, Option<&str>),
        now: UnixTime,
    ) -> StoreResult<bool> {
        let budget = budget.unwrap_or(ResetBudget {
            mails: i64::MAX,
            since: now,
        });
        let mut tx = self.write_transaction().await?;
        // The person's row lock makes concurrent requests count one after another, so the
        // budget holds on PostgreSQL too.
        sqlx::query("UPDATE people SET updated_at = updated_at WHERE id = $1")
            .bind(person_id)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO password_resets (id, token_hash, person_id, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM password_resets \
             WHERE person_id = $3 AND created_at > $6) < $7",
        )
        .bind(new_id())
        .bind(token_hash.as_str())
        .bind(person_id)
        .bind(now)
        .bind(expires_at)
        .bind(budget.since)
        .bind(budget.mails)
        .execute(&mut *tx)
        .await?;
        let created = inserted.rows_affected() == 1;
        if created {
            mail_outbox::insert(&mut tx, &mail, caused_by, now).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// The person an unused, unexpired reset link belongs to.
    pub async fn password_reset_person(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT person_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash.as_str())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|row| row.try_get("person_id")).transpose()?)
    }

    /// Uses a reset link: marks it (and every other link of the person) used and sets the
    /// password, in one transaction. `None` when the link was used or expired meanwhile.
    pub async fn use_password_reset(
        &self,
        token_hash: &TokenHash,
        password_hash: &str,
        client_ip: Option<&str>,
        notice: Option<QueuedMail>,
        now: UnixTime,
    ) -> StoreResult<Option<(String, Receipt)>> {
        let mut work = self.begin(now).await?;
        let claimed = sqlx::query(
            "UPDATE password_resets SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING person_id",
        )
        .bind(now)
        .bind(token_hash.as_str())
        .fetch_optional(work.conn())
        .await?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let person_id: String = claimed.try_get("person_id")?;
        sqlx::query(
            "UPDATE password_resets SET used_at = $1 WHERE person_id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&person_id)
        .execute(work.conn())
        .await?;
        write_password(&mut work, &person_id, password_hash).await?;
        let event = AuditEvent {
            actor_id: Some(&person_id),
            action: "password.reset",
            client_ip,
            details: "set a new password with a reset link".into(),
            mails: notice.into_iter().collect(),
            ..AuditEvent::default()
        };
        let receipt = work.commit(Some(&person_id), event).await?;
        Ok(Some((person_id, receipt)))
    }
}
