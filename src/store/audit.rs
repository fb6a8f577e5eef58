//! The audit trail: who did what, when, to whom, from which address.

use super::mail_outbox::{self, QueuedMail};
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
    /// The messages the change sends; stored with the event, in the same transaction,
    /// for the mail worker.
    pub mails: Vec<QueuedMail>,
}

impl AuditEvent<'_> {
    /// The event carrying `mails` too (a notice that may have failed to render is `None`).
    pub fn with_mails(mut self, mails: impl IntoIterator<Item = QueuedMail>) -> Self {
        self.mails.extend(mails);
        self
    }
}

pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    event: &AuditEvent<'_>,
    now: UnixTime,
) -> StoreResult<()> {
    let now_ms = crate::clock::now_millis().unwrap_or(now.saturating_mul(1000));
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, occurred_at_ms, actor_id, action, subject_id, \
         organisation_id, client_ip, details) VALUES ($1, $2, $9, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(now)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.subject_id)
    .bind(event.organisation_id)
    .bind(event.client_ip)
    .bind(&event.details)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    for mail in &event.mails {
        mail_outbox::insert(conn, mail, event.actor_id, now).await?;
    }
    Ok(())
}

/// Writes many events (and their mails) in a few statements: a batch's per-row events.
pub(crate) async fn insert_many(
    conn: &mut sqlx::AnyConnection,
    events: &[AuditEvent<'_>],
    now: UnixTime,
) -> StoreResult<()> {
    let now_ms = crate::clock::now_millis().unwrap_or(now.saturating_mul(1000));
    for chunk in events.chunks(super::INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO audit_events (id, occurred_at, occurred_at_ms, actor_id, action, \
             subject_id, organisation_id, client_ip, details) VALUES {}",
            super::value_rows(chunk.len(), 9)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for event in chunk {
            query = query
                .bind(new_id())
                .bind(now)
                .bind(now_ms)
                .bind(event.actor_id)
                .bind(event.action)
                .bind(event.subject_id)
                .bind(event.organisation_id)
                .bind(event.client_ip)
                .bind(event.details.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    let mails: Vec<(&QueuedMail, Option<&str>)> = events
        .iter()
        .flat_map(|event| event.mails.iter().map(|mail| (mail, event.actor_id)))
        .collect();
    mail_outbox::insert_many(conn, &mails, now).await
}

impl Store {
    pub async fn record_audit(&self, event: &AuditEvent<'_>, now: UnixTime) -> StoreResult<()> {
        // One transaction, so the event and the mails it carries are stored together.
        let mut tx = self.write_transaction().await?;
        insert(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// An audit event as history pages show it.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    pub occurred_at: i64,
    pub actor_name: Option<String>,
    /// The person the event is about, when it is about a person.
    pub subject_name: Option<String>,
    /// The address invited, when the event is about an invitation.
    pub invitation_email: Option<String>,
    pub action: String,
    pub details: String,
    pub client_ip: Option<String>,
}

impl Store {
    /// The newest events done to or by a person, with the actor's name.
    pub async fn audit_of_person(
        &self,
        person_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<RecordedEvent>> {
        let rows = sqlx::query(
            "SELECT e.occurred_at, e.action, e.details, e.client_ip, p.surname, p.given_name, \
             c.name AS client_name, s.surname AS subject_surname, \
             s.given_name AS subject_given_name, i.email AS invitation_email \
             FROM audit_events e LEFT JOIN people p ON p.id = e.actor_id \
             LEFT JOIN api_clients c ON c.id = e.actor_id \
             LEFT JOIN people s ON s.id = e.subject_id \
             LEFT JOIN invitations i ON i.id = e.subject_id WHERE e.subject_id = $1 OR e.actor_id = $1 \
             ORDER BY e.occurred_at_ms DESC, e.id LIMIT ($2 + 0)",
        )
        .bind(person_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(recorded_event).collect()
    }

    /// An organisation's newest events, with the actor's name.
    pub async fn audit_of_organisation(
        &self,
        organisation_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<RecordedEvent>> {
        let rows = sqlx::query(
            "SELECT e.occurred_at, e.action, e.details, e.client_ip, p.surname, p.given_name, \
             c.name AS client_name, s.surname AS subject_surname, \
             s.given_name AS subject_given_name, i.email AS invitation_email \
             FROM audit_events e LEFT JOIN people p ON p.id = e.actor_id \
             LEFT JOIN api_clients c ON c.id = e.actor_id \
             LEFT JOIN people s ON s.id = e.subject_id \
             LEFT JOIN invitations i ON i.id = e.subject_id WHERE e.organisation_id = $1 ORDER BY e.occurred_at_ms DESC, e.id LIMIT ($2 + 0)",
        )
        .bind(organisation_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(recorded_event).collect()
    }
}

fn recorded_event(row: &sqlx::any::AnyRow) -> StoreResult<RecordedEvent> {
    use sqlx::Row;
    let surname: Option<String> = row.try_get("surname")?;
    let given: Option<String> = row.try_get("given_name")?;
    let client: Option<String> = row.try_get("client_name")?;
    let subject_surname: Option<String> = row.try_get("subject_surname")?;
    let subject_given: Option<String> = row.try_get("subject_given_name")?;
    Ok(RecordedEvent {
        subject_name: subject_surname
            .map(|surname| crate::domain::full_name(subject_given.as_deref(), &surname)),
        invitation_email: row.try_get("invitation_email")?,
        occurred_at: row.try_get("occurred_at")?,
        actor_name: surname
            .map(|surname| crate::domain::full_name(given.as_deref(), &surname))
            .or_else(|| client.map(|name| format!("API client “{name}”"))),
        action: row.try_get("action")?,
        details: row.try_get("details")?,
        client_ip: row.try_get("client_ip")?,
    })
}
