//! POSIX accounts: completing a person's account (username, numbers, shell) and what the
//! directory entry must hold.

use sqlx::Row;

use super::audit::AuditEvent;
use super::jobs::JobKind;
use super::names::{NameKind, claim_name};
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult, is_unique_violation};
use crate::domain::{PosixUsername, UnixTime};

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
        work.queue(JobKind::SyncAccount, person_id).await?;
        for organisation_id in
            super::memberships::organisation_ids_of(work.conn(), person_id).await?
        {
            work.queue(JobKind::SyncGroup, &organisation_id).await?;
        }
        Ok(work.commit(Some(person_id), event).await?)
    }

    /// The organisations a person belongs to, by id.
    pub async fn organisation_ids_of(&self, person_id: &str) -> StoreResult<Vec<String>> {
        let mut conn = self.pool().acquire().await?;
        super::memberships::organisation_ids_of(&mut conn, person_id).await
    }
}
