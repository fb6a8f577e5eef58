//! A confirmed batch of invitations: every invitation, resend and addition of the batch,
//! their mails and audit events in one transaction, under the batch's id. The id is
//! claimed first, so a repeated confirmation (a double submit, a refresh, an API retry with
//! the same `Idempotency-Key`) finds the batch instead of doing it again.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{self, AuditEvent};
use super::invitations::{self, NewInvitation};
use super::mail_outbox::{self, QueuedMail};
use super::member_batch::add_member;
use super::memberships::{AddMemberError, DirectoryPersonRef, link_directory_person};
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult};
use crate::domain::{Role, TokenHash, UnixTime};

/// Who confirmed a batch, and how a repeat is recognised.
pub struct BatchHeader<'a> {
    pub id: &'a str,
    pub organisation_id: &'a str,
    pub actor_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// The API's `Idempotency-Key`, with a hash of the request body it came with.
    pub idempotency_key: Option<&'a str>,
    pub request_hash: Option<&'a str>,
}

/// What one row of the batch writes.
pub enum BatchOp<'a> {
    Invite(NewInvitation<'a>),
    /// A new link for a pending invitation (the old one dies).
    Resend {
        invitation_id: &'a str,
        token_hash: &'a TokenHash,
        expires_at: UnixTime,
        mail: QueuedMail,
    },
    /// A person already in the directory, linked and added as a member.
    Add {
        person: DirectoryPersonRef<'a>,
        role: Role,
        ends_on: Option<String>,
    },
}

pub struct BatchItem<'a> {
    pub index: u64,
    /// The address the row is about, as the results show it.
    pub email: String,
    pub op: BatchOp<'a>,
    pub event: AuditEvent<'a>,
}

/// One row's result, as stored with the batch and answered by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    pub index: u64,
    pub email: String,
    /// `created`, `resent`, `added`, `skipped` or `error`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// A pending invitation a batch row may resend: its id, and the message it was sent with.
#[derive(Debug, Clone)]
pub struct PendingInvitation {
    pub id: String,
    pub message: Option<String>,
}

/// A batch as stored.
#[derive(Debug, Clone)]
pub struct StoredBatch {
    pub id: String,
    pub organisation_id: String,
    pub request_hash: Option<String>,
    pub results: Vec<ItemResult>,
    pub created_at: UnixTime,
}

impl StoredBatch {
    pub fn count(&self, outcome: &str) -> usize {
        self.results
            .iter()
            .filter(|result| result.outcome == outcome)
            .count()
    }
}

pub enum BatchApplied {
    /// Done now; hand the receipt to `jobs::apply` (the group's sync, when people were added).
    Applied {
        batch: StoredBatch,
        receipt: Receipt,
    },
    /// Done before, by the first confirmation with this id or key.
    AlreadyApplied(StoredBatch),
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Someone joined, or was invited, between the check and the write: nothing was
    /// written, and a new confirmation sees the change.
    #[error("the organisation changed meanwhile")]
    Changed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AddMemberError> for BatchError {
    fn from(error: AddMemberError) -> Self {
        match error {
            AddMemberError::Store(error) => Self::Store(error),
            _ => Self::Changed,
        }
    }
}

impl From<sqlx::Error> for BatchError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

const BATCH_COLUMNS: &str = "id, organisation_id, request_hash, response, created_at";

fn stored_batch(row: &AnyRow) -> StoreResult<StoredBatch> {
    let response: String = row.try_get("response")?;
    Ok(StoredBatch {
        id: row.try_get("id")?,
        organisation_id: row.try_get("organisation_id")?,
        request_hash: row.try_get("request_hash")?,
        results: serde_json::from_str(&response)
            .map_err(|error| StoreError::Corrupt(format!("batch results: {error}")))?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Writes the batch: `items` (each with its audit event), the rows that write nothing
    /// (`unwritten`: skipped and refused, recorded for the answer), and one `summary` event.
    pub async fn apply_invitation_batch(
        &self,
        header: BatchHeader<'_>,
        items: Vec<BatchItem<'_>>,
        unwritten: Vec<ItemResult>,
        summary: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<BatchApplied, BatchError> {
        let mut work = self.begin(now).await?;
        // The id first: of two confirmations, the second waits here for the first.
        let claimed = sqlx::query(
            "INSERT INTO invitation_batches (id, organisation_id, actor_id, client_id, \
             idempotency_key, request_hash, response, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, '[]', $7) \
             ON CONFLICT DO NOTHING",
        )
        .bind(header.id)
        .bind(header.organisation_id)
        .bind(header.actor_id)
        .bind(header.client_id)
        .bind(header.idempotency_key)
        .bind(header.request_hash)
        .bind(now)
        .execute(work.conn())
        .await?;
        if claimed.rows_affected() != 1 {
            drop(work);
            let existing = match header.idempotency_key {
                Some(key) => self.batch_by_key(header.client_id, key).await?,
                None => self.invitation_batch(header.id).await?,
            };
            return existing
                .map(BatchApplied::AlreadyApplied)
                .ok_or(BatchError::Changed);
        }
        let mut results = unwritten;
        // New invitations (most of a batch) in multi-row statements: thousands of rows
        // would otherwise be four statements each.
        let new_ones: Vec<&BatchItem<'_>> = items
            .iter()
            .filter(|item| matches!(item.op, BatchOp::Invite(_)))
            .collect();
        let ids: Vec<String> = new_ones.iter().map(|_| super::new_id()).collect();
        let invitations: Vec<&NewInvitation<'_>> = new_ones
            .iter()
            .filter_map(|item| match &item.op {
                BatchOp::Invite(invitation) => Some(invitation),
                _ => None,
            })
            .collect();
        let inserted = invitations::insert_new(work.conn(), &invitations, &ids, now).await?;
        if usize::try_from(inserted).ok() != Some(new_ones.len()) {
            // Someone invited one of these addresses since the plan was made.
            return Err(BatchError::Changed);
        }
        let events: Vec<AuditEvent<'_>> = new_ones
            .iter()
            .zip(&invitations)
            .zip(&ids)
            .map(|((item, invitation), id)| AuditEvent {
                organisation_id: Some(header.organisation_id),
                subject_id: Some(id.as_str()),
                mails: vec![QueuedMail {
                    invitation_id: Some(id.clone()),
                    batch_id: invitation.batch_id.map(str::to_string),
                    ..invitation.mail.clone()
                }],
                ..item.event.clone()
            })
            .collect();
        audit::insert_many(work.conn(), &events, now).await?;
        for (item, id) in new_ones.iter().zip(&ids) {
            results.push(ItemResult {
                index: item.index,
                email: item.email.clone(),
                outcome: "created".into(),
                id: Some(id.clone()),
                field: None,
                message: None,
            });
        }
        for item in &items {
            let (outcome, id) = match &item.op {
                BatchOp::Invite(_) => continue,
                BatchOp::Resend {
                    invitation_id,
                    token_hash,
                    expires_at,
                    mail,
                } => {
                    let renewed = invitations::renew_link(
                        work.conn(),
                        header.organisation_id,
                        invitation_id,
                        token_hash,
                        *expires_at,
                        now,
                    )
                    .await?;
                    if !renewed {
                        return Err(BatchError::Changed);
                    }
                    let mail = QueuedMail {
                        invitation_id: Some((*invitation_id).to_string()),
                        ..mail.clone()
                    };
                    mail_outbox::insert(work.conn(), &mail, item.event.actor_id, now).await?;
                    ("resent", (*invitation_id).to_string())
                }
                BatchOp::Add {
                    person,
                    role,
                    ends_on,
                } => {
                    let person_id = link_directory_person(work.conn(), person, now).await?;
                    add_member(
                        work.conn(),
                        header.organisation_id,
                        &person_id,
                        *role,
                        ends_on,
                        now,
                    )
                    .await?;
                    work.queue_member(header.organisation_id, &person_id);
                    ("added", person_id)
                }
            };
            let event = AuditEvent {
                organisation_id: Some(header.organisation_id),
                subject_id: item.event.subject_id.or(Some(&id)),
                ..item.event.clone()
            };
            audit::insert(work.conn(), &event, now).await?;
            results.push(ItemResult {
                index: item.index,
                email: item.email.clone(),
                outcome: outcome.into(),
                id: Some(id),
                field: None,
                message: None,
            });
        }
        results.sort_by_key(|result| result.index);
        let response = serde_json::to_string(&results)
            .map_err(|error| StoreError::Corrupt(format!("batch results: {error}")))?;
        sqlx::query("UPDATE invitation_batches SET response = $1 WHERE id = $2")
            .bind(&response)
            .bind(header.id)
            .execute(work.conn())
            .await?;
        let receipt = work
            .commit(
                None,
                AuditEvent {
                    organisation_id: Some(header.organisation_id),
                    ..summary
                },
            )
            .await?;
        Ok(BatchApplied::Applied {
            batch: StoredBatch {
                id: header.id.to_string(),
                organisation_id: header.organisation_id.to_string(),
                request_hash: header.request_hash.map(str::to_string),
                results,
                created_at: now,
            },
            receipt,
        })
    }

    pub async fn invitation_batch(&self, id: &str) -> StoreResult<Option<StoredBatch>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM invitation_batches WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(stored_batch).transpose()
    }

    /// The batch an API client sent with this `Idempotency-Key`.
    pub async fn batch_by_key(
        &self,
        client_id: Option<&str>,
        key: &str,
    ) -> StoreResult<Option<StoredBatch>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM invitation_batches \
             WHERE client_id = $1 AND idempotency_key = $2"
        )))
        .bind(client_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(stored_batch).transpose()
    }

    /// Forgets this client's `Idempotency-Key` if it was used before `before` (24 hours
    /// ago): the same key then starts a new batch.
    pub async fn expire_idempotency_key(
        &self,
        client_id: Option<&str>,
        key: &str,
        before: UnixTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE invitation_batches SET idempotency_key = NULL \
             WHERE client_id = $1 AND idempotency_key = $2 AND created_at < $3",
        )
        .bind(client_id)
        .bind(key)
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Pending invitations of the organisation, by normalised email.
    pub async fn pending_invitations_to(
        &self,
        organisation_id: &str,
    ) -> StoreResult<std::collections::HashMap<String, PendingInvitation>> {
        let rows = sqlx::query(
            "SELECT id, email_normalized, message FROM invitations \
             WHERE organisation_id = $1 AND status = 'pending'",
        )
        .bind(organisation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("email_normalized")?,
                    PendingInvitation {
                        id: row.try_get("id")?,
                        message: row.try_get("message")?,
                    },
                ))
            })
            .collect()
    }

    /// The messages of a batch the mail server refused: recipient and its answer.
    pub async fn batch_failures(&self, batch_id: &str) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT recipient, last_error FROM mail_outbox WHERE batch_id = $1 AND status = 'failed' \
             ORDER BY recipient",
        )
        .bind(batch_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("recipient")?,
                    row.try_get::<Option<String>, _>("last_error")?
                        .unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// The invitations a batch created, newest first.
    pub async fn invitations_of_batch(
        &self,
        batch_id: &str,
    ) -> StoreResult<Vec<invitations::Invitation>> {
        invitations::of_batch(self, batch_id).await
    }
}
