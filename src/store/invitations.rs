//! Invitations and their acceptance.

// Dynamic SQL here is assembled only from constant column lists.
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::audit::AuditEvent;
use super::mail_outbox::{self, DeliveryState, QueuedMail};
use super::people::{self, NewPerson};
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult, grants, memberships, new_id};
use crate::domain::{Email, InvitationStatus, PersonName, Role, TokenHash, UnixTime};

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: String,
    pub ends_on: Option<String>,
    pub sent_at: Option<UnixTime>,
    pub accepted_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    pub email: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub role: Role,
    pub organisation_id: Option<String>,
    pub invited_by: Option<String>,
    /// The inviter's personal message, plain text.
    pub message: Option<String>,
    pub status: InvitationStatus,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

const COLUMNS: &str = "id, email, surname, given_name, role, organisation_id, invited_by, \
                       status, created_at, expires_at, ends_on, sent_at, accepted_at, revoked_at, message";

fn from_row(row: &AnyRow) -> StoreResult<Invitation> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(Invitation {
        id: row.try_get("id")?,
        ends_on: row.try_get("ends_on")?,
        sent_at: row.try_get("sent_at")?,
        accepted_at: row.try_get("accepted_at")?,
        revoked_at: row.try_get("revoked_at")?,
        email: row.try_get("email")?,
        surname: row.try_get("surname")?,
        given_name: row.try_get("given_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        organisation_id: row.try_get("organisation_id")?,
        invited_by: row.try_get("invited_by")?,
        message: row.try_get("message")?,
        status: InvitationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown invitation status {status:?}")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

pub struct NewInvitation<'a> {
    pub token_hash: &'a TokenHash,
    pub email: &'a Email,
    pub surname: &'a PersonName,
    pub given_name: Option<&'a PersonName>,
    pub role: Role,
    pub organisation_id: Option<&'a str>,
    pub invited_by: Option<&'a str>,
    /// The API client that sent it, when one did.
    pub invited_by_client: Option<&'a str>,
    pub ends_on: Option<&'a str>,
    /// The inviter's personal message.
    pub message: Option<&'a str>,
    pub expires_at: UnixTime,
    /// The batch it was confirmed in, if any.
    pub batch_id: Option<&'a str>,
    /// The message carrying its link, stored with it.
    pub mail: QueuedMail,
}

/// What creating an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(String),
    /// A pending invitation to the same place for the same email got the new token
    /// instead: the old link is dead, and no duplicate exists.
    Resent(String),
}

impl Created {
    pub fn id(&self) -> &str {
        match self {
            Created::New(id) | Created::Resent(id) => id,
        }
    }
}

/// An invitation in an organisation's list, with the name of who sent it.
#[derive(Debug, Clone)]
pub struct ListedInvitation {
    pub invitation: Invitation,
    pub invited_by_name: Option<String>,
    /// Where its latest message stands; `None` for one sent before the mail outbox.
    pub delivery: Option<DeliveryState>,
}

/// What accepting an invitation creates.
pub struct Acceptance<'a> {
    pub invitation_id: &'a str,
    pub password_hash: Option<&'a str>,
    pub client_ip: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Someone else used, revoked or outlived the invitation between page load and submit.
    #[error("the invitation can no longer be used")]
    NoLongerOpen,
    #[error("an account with this email address already exists")]
    AccountExists,
    #[error("already a member")]
    AlreadyMember,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AcceptError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

impl Store {
    pub async fn create_invitation(
        &self,
        invitation: NewInvitation<'_>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Created> {
        let mut work = self.begin(now).await?;
        let created = upsert(work.conn(), &invitation, event.actor_id, now).await?;
        let action = match created {
            Created::New(_) => event.action,
            Created::Resent(_) => "invitation.resent",
        };
        let event = AuditEvent { action, ..event };
        work.commit_unqueued(Some(created.id()), event).await?;
        Ok(created)
    }

    /// Replaces the token of a pending invitation of this organisation (the old link
    /// dies) and extends its expiry. `None` when there is no such pending invitation.
    pub async fn resend_invitation(
        &self,
        organisation_id: &str,
        invitation_id: &str,
        token_hash: &TokenHash,
        expires_at: UnixTime,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Option<Invitation>> {
        let mut work = self.begin(now).await?;
        let renewed = renew_link(
            work.conn(),
            organisation_id,
            invitation_id,
            token_hash,
            expires_at,
            now,
        )
        .await?;
        if !renewed {
            return Ok(None);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM invitations WHERE id = $1"
        )))
        .bind(invitation_id)
        .fetch_one(work.conn())
        .await?;
        let event = AuditEvent {
            subject_id: Some(invitation_id),
            organisation_id: Some(organisation_id),
            ..event
        };
        work.commit_unqueued(None, event).await?;
        Ok(Some(from_row(&row)?))
    }

    /// Withdraws a pending invitation of this organisation; false when there is none.
    pub async fn revoke_invitation(
        &self,
        organisation_id: &str,
        invitation_id: &str,
        revoked_by: Option<&str>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let mut work = self.begin(now).await?;
        let updated = sqlx::query(
            "UPDATE invitations SET status = 'revoked', revoked_at = $1, revoked_by = $2 \
             WHERE id = $3 AND organisation_id = $4 AND status = 'pending'",
        )
        .bind(now)
        .bind(revoked_by)
        .bind(invitation_id)
        .bind(organisation_id)
        .execute(work.conn())
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        let event = AuditEvent {
            subject_id: Some(invitation_id),
            organisation_id: Some(organisation_id),
            ..event
        };
        work.commit_unqueued(None, event).await?;
        Ok(true)
    }

    /// An organisation's invitations, pending ones first, then newest first, with who sent each.
    pub async fn invitations_of_organisation(
        &self,
        organisation_id: &str,
    ) -> StoreResult<Vec<ListedInvitation>> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, p.surname AS inviter_surname, p.given_name AS inviter_given_name, \
             c.name AS inviter_client, m.status AS delivery_status, m.last_error AS delivery_error \
             FROM invitations i LEFT JOIN people p ON p.id = i.invited_by \
             LEFT JOIN api_clients c ON c.id = i.invited_by_client \
             LEFT JOIN mail_outbox m ON m.id = (SELECT id FROM mail_outbox WHERE invitation_id = i.id \
                                                ORDER BY seq DESC LIMIT 1) \
             WHERE i.organisation_id = $1 ORDER BY CASE i.status WHEN 'pending' THEN 0 ELSE 1 END, i.created_at DESC, i.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(organisation_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let surname: Option<String> = row.try_get("inviter_surname")?;
                let given: Option<String> = row.try_get("inviter_given_name")?;
                let client: Option<String> = row.try_get("inviter_client")?;
                Ok(ListedInvitation {
                    invitation: from_row(row)?,
                    invited_by_name: surname
                        .map(|surname| crate::domain::full_name(given.as_deref(), &surname))
                        .or_else(|| client.map(|name| format!("API client “{name}”"))),
                    delivery: mail_outbox::delivery_of(row)?,
                })
            })
            .collect()
    }

    /// Where the invitation's latest message stands.
    pub async fn invitation_delivery(
        &self,
        invitation_id: &str,
    ) -> StoreResult<Option<DeliveryState>> {
        let row = sqlx::query(
            "SELECT status AS delivery_status, last_error AS delivery_error FROM mail_outbox \
             WHERE invitation_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(invitation_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => mail_outbox::delivery_of(&row)?,
            None => None,
        })
    }

    pub async fn invitation_in_organisation(
        &self,
        organisation_id: &str,
        invitation_id: &str,
    ) -> StoreResult<Option<Invitation>> {
        let sql =
            format!("SELECT {COLUMNS} FROM invitations WHERE id = $1 AND organisation_id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(invitation_id)
            .bind(organisation_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn invitation_by_id(&self, invitation_id: &str) -> StoreResult<Option<Invitation>> {
        let sql = format!("SELECT {COLUMNS} FROM invitations WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(invitation_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn invitation_by_token(&self, hash: &TokenHash) -> StoreResult<Option<Invitation>> {
        let sql = format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(hash.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Turns an open invitation into an account with its role, in one transaction. The
    /// conditional update makes acceptance single-use even when two requests race.
    pub async fn accept_invitation(
        &self,
        acceptance: Acceptance<'_>,
        now: UnixTime,
    ) -> Result<(String, Receipt), AcceptError> {
        let mut work = self.begin(now).await?;
        // Claim first: a write as the first statement takes SQLite's write lock up front,
        // so a racing request waits for our commit instead of failing on a stale snapshot.
        let claimed = sqlx::query(
            "UPDATE invitations SET status = $1, accepted_at = $2 \
             WHERE id = $3 AND status = $4 AND expires_at > $2",
        )
        .bind(InvitationStatus::Accepted.as_str())
        .bind(now)
        .bind(acceptance.invitation_id)
        .bind(InvitationStatus::Pending.as_str())
        .execute(work.conn())
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(AcceptError::NoLongerOpen);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM invitations WHERE id = $1"
        )))
        .bind(acceptance.invitation_id)
        .fetch_one(work.conn())
        .await?;
        let invitation = from_row(&row)?;
        let email = Email::parse(&invitation.email)
            .map_err(|_| StoreError::Corrupt("invitation email no longer parses".into()))?;
        let surname = PersonName::parse("surname", &invitation.surname)
            .map_err(|_| StoreError::Corrupt("invitation surname no longer parses".into()))?;
        let given_name = invitation
            .given_name
            .as_deref()
            .map(|name| PersonName::parse("given_name", name))
            .transpose()
            .map_err(|_| StoreError::Corrupt("invitation given name no longer parses".into()))?;
        let person_id = match people::insert(
            work.conn(),
            NewPerson {
                email: &email,
                surname: &surname,
                given_name: given_name.as_ref(),
                password_hash: acceptance.password_hash,
            },
            now,
        )
        .await
        {
            Ok(id) => id,
            Err(StoreError::Conflict(_)) => return Err(AcceptError::AccountExists),
            Err(other) => return Err(other.into()),
        };
        sqlx::query("UPDATE invitations SET accepted_by = $1 WHERE id = $2")
            .bind(&person_id)
            .bind(acceptance.invitation_id)
            .execute(work.conn())
            .await?;
        match invitation.organisation_id.as_deref() {
            Some(organisation_id) => {
                let keys = super::member_keys::MemberKeys::of(
                    &person_id,
                    surname.as_str(),
                    given_name.as_ref().map(PersonName::as_str),
                    email.as_str(),
                    None,
                );
                memberships::insert(
                    work.conn(),
                    organisation_id,
                    &person_id,
                    &keys,
                    invitation.role,
                    invitation.ends_on.as_deref(),
                    now,
                )
                .await?;
                work.queue_member(organisation_id, &person_id);
            }
            None => {
                grants::insert(
                    work.conn(),
                    &person_id,
                    invitation.role,
                    None,
                    invitation.invited_by.as_deref(),
                    now,
                )
                .await?;
            }
        }
        let event = AuditEvent {
            actor_id: Some(&person_id),
            action: "invitation.accepted",
            subject_id: Some(&person_id),
            organisation_id: invitation.organisation_id.as_deref(),
            client_ip: acceptance.client_ip,
            details: format!(
                "accepted invitation {} as {}",
                invitation.id,
                invitation.role.as_str()
            ),
            ..AuditEvent::default()
        };
        let receipt = work.commit(Some(&person_id), event).await?;
        Ok((person_id, receipt))
    }
}

impl Store {
    /// Accepts an invitation for a person who already has an account: only the membership
    /// (or the site-wide role) is added, in one transaction with the claim.
    pub async fn accept_invitation_as(
        &self,
        invitation_id: &str,
        person_id: &str,
        client_ip: Option<&str>,
        now: UnixTime,
    ) -> Result<Receipt, AcceptError> {
        let mut work = self.begin(now).await?;
        let claimed = sqlx::query(
            "UPDATE invitations SET status = $1, accepted_at = $2, accepted_by = $5 \
             WHERE id = $3 AND status = $4 AND expires_at > $2",
        )
        .bind(InvitationStatus::Accepted.as_str())
        .bind(now)
        .bind(invitation_id)
        .bind(InvitationStatus::Pending.as_str())
        .bind(person_id)
        .execute(work.conn())
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(AcceptError::NoLongerOpen);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM invitations WHERE id = $1"
        )))
        .bind(invitation_id)
        .fetch_one(work.conn())
        .await?;
        let invitation = from_row(&row)?;
        let person =
            sqlx::query("SELECT surname, given_name, email, username FROM people WHERE id = $1")
                .bind(person_id)
                .fetch_one(work.conn())
                .await?;
        match invitation.organisation_id.as_deref() {
            Some(organisation_id) => {
                let surname: String = person.try_get("surname")?;
                let given_name: Option<String> = person.try_get("given_name")?;
                let email: String = person.try_get("email")?;
                let username: Option<String> = person.try_get("username")?;
                let keys = super::member_keys::MemberKeys::of(
                    person_id,
                    &surname,
                    given_name.as_deref(),
                    &email,
                    username.as_deref(),
                );
                match memberships::insert(
                    work.conn(),
                    organisation_id,
                    person_id,
                    &keys,
                    invitation.role,
                    invitation.ends_on.as_deref(),
                    now,
                )
                .await
                {
                    Ok(_) => {}
                    Err(StoreError::Conflict(_)) => return Err(AcceptError::AlreadyMember),
                    Err(other) => return Err(other.into()),
                }
                work.queue_member(organisation_id, person_id);
            }
            None => {
                grants::insert(
                    work.conn(),
                    person_id,
                    invitation.role,
                    None,
                    invitation.invited_by.as_deref(),
                    now,
                )
                .await
                .map_err(|_| AcceptError::AlreadyMember)?;
            }
        }
        let event = AuditEvent {
            actor_id: Some(person_id),
            action: "invitation.accepted",
            subject_id: Some(person_id),
            organisation_id: invitation.organisation_id.as_deref(),
            client_ip,
            details: format!(
                "accepted invitation {} with an existing account",
                invitation.id
            ),
            ..AuditEvent::default()
        };
        Ok(work.commit(Some(person_id), event).await?)
    }
}

/// An invitation not yet accepted (open or expired), with where it invites to.
pub struct WaitingInvitation {
    pub invitation: Invitation,
    pub organisation_name: Option<String>,
}

impl Store {
    /// Invitations not yet accepted nor revoked whose email or names contain `text` (all
    /// of them when `None`), newest first: the helpdesk's view of people still to come.
    pub async fn waiting_invitations(
        &self,
        text: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<WaitingInvitation>> {
        let pattern = text.map(super::contains_pattern).unwrap_or_default();
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, o.name AS organisation_name FROM invitations i \
             LEFT JOIN organisations o ON o.id = i.organisation_id \
             WHERE i.status = 'pending' AND ($1 = '' \
             OR i.email_normalized LIKE ($1 || '') ESCAPE '\\' \
             OR LOWER(i.surname) LIKE ($1 || '') ESCAPE '\\' \
             OR LOWER(COALESCE(i.given_name, '')) LIKE ($1 || '') ESCAPE '\\') \
             ORDER BY i.created_at DESC, i.id LIMIT ($2 + 0)"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&pattern)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(WaitingInvitation {
                    invitation: from_row(row)?,
                    organisation_name: row.try_get("organisation_name")?,
                })
            })
            .collect()
    }
}

/// Stores an invitation and its message: a new one, or, when one for the same email to
/// the same place is pending, that one re-sent with the new token (its old link dies).
pub(crate) async fn upsert(
    conn: &mut sqlx::AnyConnection,
    invitation: &NewInvitation<'_>,
    caused_by: Option<&str>,
    now: UnixTime,
) -> StoreResult<Created> {
    // Twice at most: a second pass only follows a racing request's invitation.
    let mut created = None;
    for _ in 0..2 {
        if let Some(id) = resend_pending(conn, invitation, now).await? {
            created = Some(Created::Resent(id));
            break;
        }
        let id = new_id();
        if insert_new(conn, &[invitation], std::slice::from_ref(&id), now).await? == 1 {
            created = Some(Created::New(id));
            break;
        }
        // Another request invited the same address a moment ago: re-send that one.
    }
    let created = created.ok_or(StoreError::Conflict("a pending invitation"))?;
    let mail = QueuedMail {
        invitation_id: Some(created.id().to_string()),
        batch_id: invitation.batch_id.map(str::to_string),
        ..invitation.mail.clone()
    };
    mail_outbox::insert(conn, &mail, caused_by, now).await?;
    Ok(created)
}

/// The invitations a batch created, newest first.
pub(crate) async fn of_batch(store: &Store, batch_id: &str) -> StoreResult<Vec<Invitation>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invitations WHERE batch_id = $1 ORDER BY created_at DESC, email"
    )))
    .bind(batch_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Inserts new pending invitations with the given ids, skipping any address that already
/// has a pending one here (`invitations_one_pending`); returns how many were inserted.
pub(crate) async fn insert_new(
    conn: &mut sqlx::AnyConnection,
    invitations: &[&NewInvitation<'_>],
    ids: &[String],
    now: UnixTime,
) -> StoreResult<u64> {
    let mut inserted = 0;
    for (chunk, ids) in invitations
        .chunks(super::INSERT_CHUNK)
        .zip(ids.chunks(super::INSERT_CHUNK))
    {
        let sql = format!(
            "INSERT INTO invitations (id, token_hash, email, email_normalized, surname, \
             given_name, role, organisation_id, invited_by, status, created_at, expires_at, \
             ends_on, sent_at, invited_by_client, batch_id, message) VALUES {} ON CONFLICT DO NOTHING",
            super::value_rows(chunk.len(), 17)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (invitation, id) in chunk.iter().zip(ids) {
            query = query
                .bind(id.as_str())
                .bind(invitation.token_hash.as_str())
                .bind(invitation.email.as_str())
                .bind(invitation.email.normalized())
                .bind(invitation.surname.as_str())
                .bind(invitation.given_name.map(PersonName::as_str))
                .bind(invitation.role.as_str())
                .bind(invitation.organisation_id)
                .bind(invitation.invited_by)
                .bind(InvitationStatus::Pending.as_str())
                .bind(now)
                .bind(invitation.expires_at)
                .bind(invitation.ends_on)
                .bind(now)
                .bind(invitation.invited_by_client)
                .bind(invitation.batch_id)
                .bind(invitation.message);
        }
        inserted += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
}

/// Gives the pending invitation for the same address and place (if any) the new token and
/// details; its id. Written first, so SQLite takes its write lock here.
async fn resend_pending(
    conn: &mut sqlx::AnyConnection,
    invitation: &NewInvitation<'_>,
    now: UnixTime,
) -> StoreResult<Option<String>> {
    let resent = sqlx::query(
        "UPDATE invitations SET token_hash = $1, sent_at = $2, expires_at = $3, surname = $4, \
         given_name = $5, role = $6, ends_on = $7, invited_by = $8, invited_by_client = $11, \
         message = COALESCE($12, message) \
         WHERE email_normalized = $9 AND COALESCE(organisation_id, '') = COALESCE($10, '') \
         AND status = 'pending' RETURNING id",
    )
    .bind(invitation.token_hash.as_str())
    .bind(now)
    .bind(invitation.expires_at)
    .bind(invitation.surname.as_str())
    .bind(invitation.given_name.map(PersonName::as_str))
    .bind(invitation.role.as_str())
    .bind(invitation.ends_on)
    .bind(invitation.invited_by)
    .bind(invitation.email.normalized())
    .bind(invitation.organisation_id)
    .bind(invitation.invited_by_client)
    .bind(invitation.message)
    .fetch_optional(&mut *conn)
    .await?;
    resent
        .map(|row| row.try_get("id"))
        .transpose()
        .map_err(Into::into)
}

/// Gives a pending invitation of the organisation a new link (the old one dies); false when
/// it is not pending there.
pub(crate) async fn renew_link(
    conn: &mut sqlx::AnyConnection,
    organisation_id: &str,
    invitation_id: &str,
    token_hash: &TokenHash,
    expires_at: UnixTime,
    now: UnixTime,
) -> StoreResult<bool> {
    let updated = sqlx::query(
        "UPDATE invitations SET token_hash = $1, sent_at = $2, expires_at = $3 \
         WHERE id = $4 AND organisation_id = $5 AND status = 'pending'",
    )
    .bind(token_hash.as_str())
    .bind(now)
    .bind(expires_at)
    .bind(invitation_id)
    .bind(organisation_id)
    .execute(&mut *conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}
