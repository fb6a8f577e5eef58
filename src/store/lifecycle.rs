//! Membership end dates: which reminders and endings are due, claimed so that several
//! instances running the lifecycle job at once act on each membership once.

use sqlx::Row;

use super::audit::AuditEvent;
use super::mail_outbox::{self, QueuedMail};
use super::unit_of_work::Receipt;
use super::{Store, StoreResult};
use crate::domain::UnixTime;

/// A membership with an end date, as the reminder and ending mails need it.
#[derive(Debug, Clone)]
pub struct EndingMembership {
    pub membership_id: String,
    pub organisation_id: String,
    pub organisation_name: String,
    pub person_id: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub email: String,
    pub ends_on: String,
}

impl EndingMembership {
    pub fn display_name(&self) -> String {
        match &self.given_name {
            Some(given) => format!("{given} {}", self.surname),
            None => self.surname.clone(),
        }
    }
}

const ENDING_COLUMNS: &str = "SELECT m.id AS membership_id, m.organisation_id, o.name AS organisation_name, \
     p.id AS person_id, p.surname, p.given_name, p.email, m.ends_on \
     FROM memberships m JOIN people p ON p.id = m.person_id \
     JOIN organisations o ON o.id = m.organisation_id";

fn ending_of(row: &sqlx::any::AnyRow) -> StoreResult<EndingMembership> {
    Ok(EndingMembership {
        membership_id: row.try_get("membership_id")?,
        organisation_id: row.try_get("organisation_id")?,
        organisation_name: row.try_get("organisation_name")?,
        person_id: row.try_get("person_id")?,
        surname: row.try_get("surname")?,
        given_name: row.try_get("given_name")?,
        email: row.try_get("email")?,
        ends_on: row.try_get("ends_on")?,
    })
}

/// An owner to tell about a membership.
pub struct OwnerContact {
    pub name: String,
    pub email: String,
}

impl Store {
    /// Memberships of active people ending between `today` and `remind_until` (ISO dates,
    /// inclusive) whose reminder for that end date has not been sent.
    pub async fn reminders_due(
        &self,
        today: &str,
        remind_until: &str,
    ) -> StoreResult<Vec<EndingMembership>> {
        let sql = format!(
            "{ENDING_COLUMNS} WHERE m.ends_on >= $1 AND m.ends_on <= $2 \
             AND (m.reminded_for IS NULL OR m.reminded_for <> m.ends_on) \
             AND p.status = 'active' ORDER BY m.ends_on, m.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(today)
            .bind(remind_until)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(ending_of).collect()
    }

    /// Claims the reminder for this end date and stores its mails, in one transaction;
    /// false (and nothing stored) when another run already has it or the end date changed
    /// meanwhile.
    pub async fn claim_reminder(
        &self,
        membership_id: &str,
        ends_on: &str,
        mails: &[QueuedMail],
        now: UnixTime,
    ) -> StoreResult<bool> {
        let mut tx = self.write_transaction().await?;
        let claimed = sqlx::query(
            "UPDATE memberships SET reminded_for = $1 WHERE id = $2 AND ends_on = $1 \
             AND (reminded_for IS NULL OR reminded_for <> $1)",
        )
        .bind(ends_on)
        .bind(membership_id)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(false);
        }
        for mail in mails {
            mail_outbox::insert(&mut tx, mail, None, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Memberships whose end date is before `today` and whose ending was not carried out.
    pub async fn endings_due(&self, today: &str) -> StoreResult<Vec<EndingMembership>> {
        let sql = format!(
            "{ENDING_COLUMNS} WHERE m.ends_on < $1 \
             AND (m.ended_for IS NULL OR m.ended_for <> m.ends_on) ORDER BY m.ends_on, m.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(today)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(ending_of).collect()
    }

    /// Carries out an ending: records it, queues the group's sync (memberUid goes) and
    /// moves the member list on, in one transaction. `None` when already done.
    pub async fn end_membership(
        &self,
        ending: &EndingMembership,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Option<Receipt>> {
        let mut work = self.begin(now).await?;
        let ended = sqlx::query(
            "UPDATE memberships SET ended_for = $1, updated_at = $2 WHERE id = $3 \
             AND ends_on = $1 AND (ended_for IS NULL OR ended_for <> $1)",
        )
        .bind(&ending.ends_on)
        .bind(now)
        .bind(&ending.membership_id)
        .execute(work.conn())
        .await?;
        if ended.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query("UPDATE organisations SET members_version = members_version + 1 WHERE id = $1")
            .bind(&ending.organisation_id)
            .execute(work.conn())
            .await?;
        work.queue_member(&ending.organisation_id, &ending.person_id);
        let event = AuditEvent {
            organisation_id: Some(&ending.organisation_id),
            ..event
        };
        Ok(Some(work.commit(Some(&ending.person_id), event).await?))
    }

    /// The current owners of an organisation, to tell about their members.
    pub async fn owners_of(
        &self,
        organisation_id: &str,
        today: &str,
    ) -> StoreResult<Vec<OwnerContact>> {
        let rows = sqlx::query(
            "SELECT p.surname, p.given_name, p.email FROM memberships m \
             JOIN people p ON p.id = m.person_id WHERE m.organisation_id = $1 \
             AND m.role = 'owner' AND (m.ends_on IS NULL OR m.ends_on >= $2) \
             AND p.status = 'active' ORDER BY p.email",
        )
        .bind(organisation_id)
        .bind(today)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let surname: String = row.try_get("surname")?;
                let given: Option<String> = row.try_get("given_name")?;
                Ok(OwnerContact {
                    name: match given {
                        Some(given) => format!("{given} {surname}"),
                        None => surname,
                    },
                    email: row.try_get("email")?,
                })
            })
            .collect()
    }

    /// Starts the grace period of active accounts that have just lost their last current
    /// membership, and stops it for those that have one again. Staff (site roles) and
    /// people still setting up are left alone.
    pub async fn track_memberless(&self, today: &str, now: UnixTime) -> StoreResult<()> {
        let current = "SELECT 1 FROM memberships m WHERE m.person_id = people.id \
             AND (m.ends_on IS NULL OR m.ends_on >= $1)";
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE people SET memberless_since = $2 WHERE status = 'active' \
             AND memberless_since IS NULL AND (username IS NOT NULL OR ldap_dn IS NOT NULL) \
             AND NOT EXISTS ({current}) AND NOT EXISTS (SELECT 1 FROM role_grants g \
             WHERE g.person_id = people.id AND g.organisation_id IS NULL)"
        )))
        .bind(today)
        .bind(now)
        .execute(self.pool())
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE people SET memberless_since = NULL WHERE memberless_since IS NOT NULL \
             AND EXISTS ({current})"
        )))
        .bind(today)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Active accounts without a membership since `cutoff` or earlier.
    pub async fn grace_expired(&self, cutoff: UnixTime) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM people WHERE status = 'active' AND memberless_since <= $1 ORDER BY id",
        )
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("id").map_err(Into::into))
            .collect()
    }
}
