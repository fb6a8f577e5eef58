//! The mail outbox: every message is stored with the change that causes it (through the
//! change's audit event, or the invitation it belongs to) and sent by the mail worker
//! (`crate::jobs::mail`), paced site-wide. Messages are never coalesced: each one is a row.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreResult, new_id};
use crate::domain::UnixTime;

/// Which queued message (`m`) may be sent at the time bound to `now` (a placeholder such as
/// `$2`): it is due, and no older message to the same address is still queued, so each
/// person's mail goes out in the order it was stored (a resent invitation's new link after
/// the old one), outage or not.
fn sendable(now: &str) -> String {
    format!(
        "m.status = 'queued' AND m.next_attempt_at <= {now} \
         AND NOT EXISTS (SELECT 1 FROM mail_outbox earlier WHERE earlier.recipient = m.recipient \
                         AND earlier.status = 'queued' AND earlier.seq < m.seq)"
    )
}

/// A rendered message waiting to be stored with its change.
#[derive(Debug, Clone, Default)]
pub struct QueuedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The invitation the message carries the link of, so its page shows delivery.
    pub invitation_id: Option<String>,
    /// The invitation batch that caused it, so the batch page can count it.
    pub batch_id: Option<String>,
}

/// Stores `mail` in the change's transaction; `caused_by` is the change's audit actor. A
/// new message is due at once, whatever time the change is dated (`next_attempt_at` 0).
pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    mail: &QueuedMail,
    caused_by: Option<&str>,
    now: UnixTime,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, status, attempts, \
         next_attempt_at, caused_by, invitation_id, batch_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', 0, 0, $7, $8, $9, $6, $6)",
    )
    .bind(new_id())
    .bind(&mail.to)
    .bind(&mail.subject)
    .bind(&mail.text)
    .bind(&mail.html)
    .bind(now)
    .bind(caused_by)
    .bind(mail.invitation_id.as_deref())
    .bind(mail.batch_id.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores many messages in a few statements (a batch's invitations); each with the actor
/// whose change caused it.
pub(crate) async fn insert_many(
    conn: &mut sqlx::AnyConnection,
    mails: &[(&QueuedMail, Option<&str>)],
    now: UnixTime,
) -> StoreResult<()> {
    for chunk in mails.chunks(super::INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, status, \
             attempts, next_attempt_at, caused_by, invitation_id, batch_id, created_at, \
             updated_at) VALUES {}",
            super::value_rows(chunk.len(), 13)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (mail, caused_by) in chunk {
            query = query
                .bind(new_id())
                .bind(mail.to.as_str())
                .bind(mail.subject.as_str())
                .bind(mail.text.as_str())
                .bind(mail.html.as_str())
                .bind("queued")
                .bind(0_i64)
                .bind(0_i64)
                .bind(*caused_by)
                .bind(mail.invitation_id.as_deref())
                .bind(mail.batch_id.as_deref())
                .bind(now)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A claimed message, ready to send.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attempts: i64,
}

fn outbox_mail(row: &AnyRow) -> StoreResult<OutboxMail> {
    Ok(OutboxMail {
        id: row.try_get("id")?,
        to: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        text: row.try_get("text_body")?,
        html: row.try_get("html_body")?,
        attempts: row.try_get("attempts")?,
    })
}

/// Where a message stands, as pages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    Sent,
    Failed,
}

impl Delivery {
    fn parse(value: &str) -> Self {
        match value {
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            _ => Self::Queued,
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// The latest message of an invitation: queued, sent or failed, and why.
#[derive(Debug, Clone)]
pub struct DeliveryState {
    pub state: Delivery,
    /// The mail server's answer to a failed message, or the last transient error of one
    /// still queued.
    pub reason: Option<String>,
}

/// A message as the admin outbox page shows it.
#[derive(Debug, Clone)]
pub struct MailEntry {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub state: Delivery,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: UnixTime,
    pub caused_by: Option<String>,
}

/// A message with the name of who caused it (a person or an API client).
const MAIL_ENTRY_SELECT: &str = "SELECT m.id, m.recipient, m.subject, m.status, m.attempts, \
     m.last_error, m.created_at, COALESCE(c.name, CASE WHEN p.given_name IS NULL THEN p.surname \
     ELSE p.given_name || ' ' || p.surname END) AS caused_by_name \
     FROM mail_outbox m LEFT JOIN people p ON p.id = m.caused_by \
     LEFT JOIN api_clients c ON c.id = m.caused_by";

fn mail_entry(row: &AnyRow) -> StoreResult<MailEntry> {
    Ok(MailEntry {
        id: row.try_get("id")?,
        to: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        state: Delivery::parse(&row.try_get::<String, _>("status")?),
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        caused_by: row.try_get("caused_by_name")?,
    })
}

/// How many messages stand in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
}

impl Store {
    /// Claims the oldest due message for `lease_seconds`. A message waits while an older one
    /// to the same address is queued, so each person's mail arrives in the order it was
    /// stored (a resent invitation's new link after the old one), outage or not.
    pub async fn claim_due_mail(
        &self,
        now: UnixTime,
        lease_seconds: i64,
    ) -> StoreResult<Option<OutboxMail>> {
        let claimed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE mail_outbox SET locked_until = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE id = (SELECT m.id FROM mail_outbox m WHERE {} \
                         AND (m.locked_until IS NULL OR m.locked_until < $2) \
                         ORDER BY m.seq LIMIT 1) \
             AND status = 'queued' AND (locked_until IS NULL OR locked_until < $2) \
             RETURNING id, recipient, subject, text_body, html_body, attempts",
            sendable("$2")
        )))
        .bind(now + lease_seconds)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        claimed.as_ref().map(outbox_mail).transpose()
    }

    /// Claims the invitation's newest message if it may be sent now (the command line sends
    /// the invitation it just made, not the rest of the outbox).
    pub async fn claim_mail_of_invitation(
        &self,
        invitation_id: &str,
        now: UnixTime,
        lease_seconds: i64,
    ) -> StoreResult<Option<OutboxMail>> {
        let claimed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE mail_outbox SET locked_until = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE id = (SELECT m.id FROM mail_outbox m WHERE {} AND m.invitation_id = $3 \
                         AND (m.locked_until IS NULL OR m.locked_until < $2) \
                         ORDER BY m.seq DESC LIMIT 1) \
             AND status = 'queued' AND (locked_until IS NULL OR locked_until < $2) \
             RETURNING id, recipient, subject, text_body, html_body, attempts",
            sendable("$2")
        )))
        .bind(now + lease_seconds)
        .bind(now)
        .bind(invitation_id)
        .fetch_optional(self.pool())
        .await?;
        claimed.as_ref().map(outbox_mail).transpose()
    }

    /// Takes the next send slot of the site-wide pacing: the time (ms) at which this
    /// instance may send, `interval_ms` after the previous slot of any instance.
    pub async fn reserve_mail_slot(&self, now_ms: i64, interval_ms: i64) -> StoreResult<i64> {
        let row = sqlx::query(
            "UPDATE mail_pacing SET next_slot_ms = \
             (CASE WHEN next_slot_ms > $1 THEN next_slot_ms ELSE $1 END) + $2 \
             WHERE id = 1 RETURNING next_slot_ms",
        )
        .bind(now_ms)
        .bind(interval_ms)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("next_slot_ms")? - interval_ms)
    }

    /// Records a message as sent, erasing its body (it may carry a single-use link).
    pub async fn mark_mail_sent(&self, id: &str, now: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET status = 'sent', sent_at = $1, updated_at = $1, \
             locked_until = NULL, last_error = NULL, text_body = '', html_body = '' WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a permanent refusal (the mail server's 5xx answer), erasing the body.
    pub async fn mark_mail_failed(&self, id: &str, reason: &str, now: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET status = 'failed', updated_at = $1, locked_until = NULL, \
             last_error = $2, text_body = '', html_body = '' WHERE id = $3",
        )
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Releases a message for another attempt at `retry_at` (the server was unreachable or
    /// answered 4xx).
    pub async fn retry_mail_later(
        &self,
        id: &str,
        error: &str,
        retry_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET locked_until = NULL, last_error = $1, next_attempt_at = $2, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(error)
        .bind(retry_at)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Messages that may be sent now, or are being sent: zero once the outbox has
    /// done all it can until the next retry.
    pub async fn due_mail_count(&self, now: UnixTime) -> StoreResult<i64> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM mail_outbox m WHERE {}",
            sendable("$1")
        )))
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// The delivery counts of a batch's messages.
    pub async fn batch_delivery(&self, batch_id: &str) -> StoreResult<DeliveryCounts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM mail_outbox WHERE batch_id = $1 GROUP BY status",
        )
        .bind(batch_id)
        .fetch_all(self.pool())
        .await?;
        counts_of(&rows)
    }

    /// The newest messages, failed ones first, for the admin outbox page.
    pub async fn mail_entries(&self, limit: i64) -> StoreResult<Vec<MailEntry>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{MAIL_ENTRY_SELECT} ORDER BY CASE m.status WHEN 'failed' THEN 0 \
             WHEN 'queued' THEN 1 ELSE 2 END, m.seq DESC LIMIT ($1 + 0)"
        )))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(mail_entry).collect()
    }

    /// The newest messages to one address (an account page's "Email" panel).
    pub async fn mails_to(&self, address: &str, limit: i64) -> StoreResult<Vec<MailEntry>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{MAIL_ENTRY_SELECT} WHERE m.recipient = $1 ORDER BY m.seq DESC LIMIT ($2 + 0)"
        )))
        .bind(address)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(mail_entry).collect()
    }

    /// How many messages stand in each state, site-wide.
    pub async fn mail_counts(&self) -> StoreResult<DeliveryCounts> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM mail_outbox GROUP BY status")
            .fetch_all(self.pool())
            .await?;
        counts_of(&rows)
    }
}

/// The delivery state of an invitation's latest message, from a joined row
/// (`delivery_status`, `delivery_error`); `None` when it never had one.
pub(crate) fn delivery_of(row: &AnyRow) -> StoreResult<Option<DeliveryState>> {
    let status: Option<String> = row.try_get("delivery_status")?;
    Ok(status.map(|status| DeliveryState {
        state: Delivery::parse(&status),
        reason: row.try_get("delivery_error").unwrap_or_default(),
    }))
}

/// Sums `status, n` rows into counts.
fn counts_of(rows: &[AnyRow]) -> StoreResult<DeliveryCounts> {
    let mut counts = DeliveryCounts::default();
    for row in rows {
        let n: i64 = row.try_get("n")?;
        match Delivery::parse(&row.try_get::<String, _>("status")?) {
            Delivery::Queued => counts.queued += n,
            Delivery::Sent => counts.sent += n,
            Delivery::Failed => counts.failed += n,
        }
    }
    Ok(counts)
}
