//! Accounts: completing a person's POSIX account (username, numbers, shell), and the
//! changes staff make to accounts (lock, unlock, contact, deletion, resync).

use sqlx::Row;

use super::audit::AuditEvent;
use super::grants::{hold_admin_grants, keep_an_admin};
use super::jobs::JobKind;
use super::memberships::{adjust_member_count, organisation_ids_of};
use super::names::{NameKind, claim_name};
use super::unit_of_work::Receipt;
use super::{AccountChangeError, Store, StoreError, StoreResult, is_unique_violation};
use crate::domain::{Email, PersonName, PosixUsername, UnixTime};

pub struct NewAccount<'a> {
    pub username: &'a PosixUsername,
    pub uid_number: i64,
    pub gid_number: i64,
    pub login_shell: &'a str,
    pub ldap_dn: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the account is already complete")]
    AlreadyComplete,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CompleteError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

impl Store {
    /// Whether the portal already gave out `name` (a username or an organisation's group).
    pub async fn name_used_in_portal(&self, name: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM posix_names WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Records a completed account and queues its directory entry (and the groups of its
    /// organisations, which now list its username), in one transaction.
    pub async fn complete_account(
        &self,
        person_id: &str,
        account: NewAccount<'_>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Receipt, CompleteError> {
        let mut work = self.begin(now).await?;
        let updated = sqlx::query(
            "UPDATE people SET username = $1, uid_number = $2, gid_number = $3, login_shell = $4, \
             ldap_dn = $5, updated_at = $6 WHERE id = $7 AND username IS NULL AND ldap_dn IS NULL",
        )
        .bind(account.username.as_str())
        .bind(account.uid_number)
        .bind(account.gid_number)
        .bind(account.login_shell)
        .bind(account.ldap_dn)
        .bind(now)
        .bind(person_id)
        .execute(work.conn())
        .await;
        match updated {
            Ok(result) if result.rows_affected() == 1 => {}
            Ok(_) => return Err(CompleteError::AlreadyComplete),
            Err(error) if is_unique_violation(&error) => return Err(CompleteError::UsernameTaken),
            Err(error) => return Err(error.into()),
        }
        let name = account.username.as_str();
        if !claim_name(work.conn(), name, NameKind::Person, person_id, now).await? {
            return Err(CompleteError::UsernameTaken);
        }
        // The entry (and with it the member lists, which show usernames) and the groups of
        // the person's organisations, which now list the username.
        work.queue(JobKind::SyncAccount, person_id);
        for organisation_id in organisation_ids_of(work.conn(), person_id).await? {
            work.queue(JobKind::SyncGroup, &organisation_id);
        }
        Ok(work.commit(Some(person_id), event).await?)
    }

    /// The organisations a person belongs to, by id.
    pub async fn organisation_ids_of(&self, person_id: &str) -> StoreResult<Vec<String>> {
        let mut conn = self.pool().acquire().await?;
        organisation_ids_of(&mut conn, person_id).await
    }
}

/// Changes staff make to accounts.
impl Store {
    /// Locks an active account: it can no longer sign in, its sessions end now, and its
    /// LDAP entry loses its password and keys (through the outbox).
    pub async fn lock_account(
        &self,
        person_id: &str,
        reason: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Receipt, AccountChangeError> {
        let mut work = self.begin(now).await?;
        hold_admin_grants(work.conn()).await?;
        let locked = sqlx::query(
            "UPDATE people SET status = 'locked', locked_at = $1, lock_reason = $2, \
             updated_at = $1 WHERE id = $3 AND status = 'active'",
        )
        .bind(now)
        .bind(reason)
        .bind(person_id)
        .execute(work.conn())
        .await?;
        if locked.rows_affected() != 1 {
            return Err(AccountChangeError::WrongState);
        }
        keep_an_admin(work.conn(), person_id).await?;
        sqlx::query("DELETE FROM sessions WHERE person_id = $1")
            .bind(person_id)
            .execute(work.conn())
            .await?;
        work.queue(JobKind::SyncAccount, person_id);
        Ok(work.commit(Some(person_id), event).await?)
    }

    /// Unlocks a locked account and writes its password and keys back to LDAP. A new
    /// grace period starts if it still has no membership.
    pub async fn unlock_account(
        &self,
        person_id: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Receipt, AccountChangeError> {
        let mut work = self.begin(now).await?;
        let unlocked = sqlx::query(
            "UPDATE people SET status = 'active', locked_at = NULL, lock_reason = NULL, \
             memberless_since = NULL, updated_at = $1 WHERE id = $2 AND status = 'locked'",
        )
        .bind(now)
        .bind(person_id)
        .execute(work.conn())
        .await?;
        if unlocked.rows_affected() != 1 {
            return Err(AccountChangeError::WrongState);
        }
        work.queue(JobKind::SyncAccount, person_id);
        Ok(work.commit(Some(person_id), event).await?)
    }

    /// Changes a person's names and email address (the entry follows through the outbox).
    pub async fn change_contact(
        &self,
        person_id: &str,
        surname: &PersonName,
        given_name: Option<&PersonName>,
        email: &Email,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Receipt, AccountChangeError> {
        let mut work = self.begin(now).await?;
        let updated = sqlx::query(
            "UPDATE people SET surname = $1, given_name = $2, email = $3, email_normalized = $4, \
             updated_at = $5 WHERE id = $6 AND status <> 'deleted'",
        )
        .bind(surname.as_str())
        .bind(given_name.map(PersonName::as_str))
        .bind(email.as_str())
        .bind(email.normalized())
        .bind(now)
        .bind(person_id)
        .execute(work.conn())
        .await;
        match updated {
            Ok(result) if result.rows_affected() == 1 => {}
            Ok(_) => return Err(AccountChangeError::WrongState),
            Err(error) if is_unique_violation(&error) => {
                return Err(AccountChangeError::EmailTaken);
            }
            Err(error) => return Err(error.into()),
        }
        work.queue(JobKind::SyncAccount, person_id);
        Ok(work.commit(Some(person_id), event).await?)
    }

    /// Deletes an account: its memberships, keys, sessions, reset links and roles go, its
    /// personal data is erased (search keys included), and its LDAP entry and private
    /// group are removed (through the outbox), as is its memberUid in its organisations'
    /// groups. The row stays, so its username and uidNumber are never used again.
    pub async fn delete_account(
        &self,
        person_id: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Receipt, AccountChangeError> {
        let mut work = self.begin(now).await?;
        hold_admin_grants(work.conn()).await?;
        let erased_email = format!("deleted-{person_id}@invalid");
        let deleted = sqlx::query(
            "UPDATE people SET status = 'deleted', email = $1, email_normalized = $1, \
             surname = 'Deleted account', given_name = NULL, password_hash = NULL, \
             locked_at = $2, lock_reason = 'deleted', updated_at = $2 \
             WHERE id = $3 AND status <> 'deleted'",
        )
        .bind(&erased_email)
        .bind(now)
        .bind(person_id)
        .execute(work.conn())
        .await?;
        if deleted.rows_affected() != 1 {
            return Err(AccountChangeError::WrongState);
        }
        keep_an_admin(work.conn(), person_id).await?;
        let organisations = organisation_ids_of(work.conn(), person_id).await?;
        for statement in [
            "DELETE FROM memberships WHERE person_id = $1",
            "DELETE FROM ssh_keys WHERE person_id = $1",
            "DELETE FROM sessions WHERE person_id = $1",
            "DELETE FROM password_resets WHERE person_id = $1",
            "DELETE FROM role_grants WHERE person_id = $1",
            "DELETE FROM oidc_links WHERE person_id = $1",
        ] {
            sqlx::query(statement)
                .bind(person_id)
                .execute(work.conn())
                .await?;
        }
        work.queue(JobKind::SyncAccount, person_id);
        for organisation_id in &organisations {
            adjust_member_count(work.conn(), organisation_id, -1).await?;
            work.queue(JobKind::SyncGroup, organisation_id);
        }
        Ok(work.commit(Some(person_id), event).await?)
    }

    /// Queues the account's entry and its organisations' groups to be rewritten from the
    /// portal's state (a repair after changes made behind the portal's back).
    pub async fn queue_resync(
        &self,
        person_id: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Receipt> {
        let mut work = self.begin(now).await?;
        let organisations = organisation_ids_of(work.conn(), person_id).await?;
        work.queue(JobKind::SyncAccount, person_id);
        for organisation_id in &organisations {
            work.queue(JobKind::SyncGroup, organisation_id);
        }
        work.commit(Some(person_id), event).await
    }
}
