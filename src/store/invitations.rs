//! Invitations and their acceptance.

// Dynamic SQL here is assembled only from constant column lists.
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::audit::{self, AuditEvent};
use super::people::{self, NewPerson};
use super::{Store, StoreError, StoreResult, grants, new_id};
use crate::domain::{Email, InvitationStatus, PersonName, Role, TokenHash, UnixTime};

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub role: Role,
    pub organisation_id: Option<String>,
    pub invited_by: Option<String>,
    pub status: InvitationStatus,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

const COLUMNS: &str = "id, email, surname, given_name, role, organisation_id, invited_by, \
                       status, created_at, expires_at";

fn from_row(row: &AnyRow) -> StoreResult<Invitation> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(Invitation {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        surname: row.try_get("surname")?,
        given_name: row.try_get("given_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        organisation_id: row.try_get("organisation_id")?,
        invited_by: row.try_get("invited_by")?,
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
    pub expires_at: UnixTime,
}

/// What accepting an invitation creates.
pub struct Acceptance<'a> {
    pub invitation_id: &'a str,
    pub password_hash: &'a str,
    pub client_ip: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Someone else used, revoked or outlived the invitation between page load and submit.
    #[error("the invitation can no longer be used")]
    NoLongerOpen,
    #[error("an account with this email address already exists")]
    AccountExists,
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
    ) -> StoreResult<String> {
        let id = new_id();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO invitations (id, token_hash, email, email_normalized, surname, \
             given_name, role, organisation_id, invited_by, status, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
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
        .execute(&mut *tx)
        .await?;
        let event = AuditEvent {
            subject_id: Some(&id),
            ..event
        };
        audit::insert(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(id)
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
    ) -> Result<String, AcceptError> {
        let mut tx = self.pool().begin().await?;
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
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(AcceptError::NoLongerOpen);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM invitations WHERE id = $1"
        )))
        .bind(acceptance.invitation_id)
        .fetch_one(&mut *tx)
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
            &mut tx,
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
            .execute(&mut *tx)
            .await?;
        grants::insert(
            &mut tx,
            &person_id,
            invitation.role,
            invitation.organisation_id.as_deref(),
            invitation.invited_by.as_deref(),
            now,
        )
        .await?;
        audit::insert(
            &mut tx,
            &AuditEvent {
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
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(person_id)
    }
}
