//! What helpdesk staff and site admins do to accounts: search, lock and unlock, contact
//! changes, deletion, and the site-wide staff roles.

// Dynamic SQL here is assembled only from constant fragments.
use sqlx::{AssertSqlSafe, Row};

use super::audit::AuditEvent;
use super::jobs::JobKind;
use super::memberships::{adjust_member_count, contains_pattern, organisation_ids_of};
use super::people::{self, Person};
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult, is_unique_violation};
use crate::domain::{Email, PersonName, Role, UnixTime};

/// Which accounts an account search lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Any,
    /// Invitation sent, not accepted yet: no account exists, only the invitation.
    Invited,
    /// Active in the portal without a POSIX account: invitees still setting up, and staff
    /// who never needed one.
    SettingUp,
    Active,
    Locked,
    /// A directory change for the account is waiting in the outbox.
    PendingLdap,
    /// At least one membership is past its end date.
    ExpiredMembership,
    Deleted,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 8] = [
        Self::Any,
        Self::Invited,
        Self::SettingUp,
        Self::Active,
        Self::Locked,
        Self::PendingLdap,
        Self::ExpiredMembership,
        Self::Deleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Any => "",
            Self::Invited => "invited",
            Self::SettingUp => "setting-up",
            Self::Active => "active",
            Self::Locked => "locked",
            Self::PendingLdap => "pending-ldap",
            Self::ExpiredMembership => "expired-membership",
            Self::Deleted => "deleted",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::Any => "Any status (not deleted)",
            Self::Invited => "Invited, not accepted yet",
            Self::SettingUp => "No POSIX account yet",
            Self::Active => "Active",
            Self::Locked => "Locked",
            Self::PendingLdap => "Pending LDAP",
            Self::ExpiredMembership => "Expired membership",
            Self::Deleted => "Deleted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|filter| filter.as_str() == value)
    }

    /// Whether a search with this filter also lists invitations not accepted yet.
    pub const fn shows_invitations(self) -> bool {
        matches!(self, Self::Any | Self::Invited)
    }

    /// The condition on `people p` for this filter; `$3` is today's ISO date.
    const fn condition(self) -> &'static str {
        match self {
            Self::Any => "p.status <> 'deleted'",
            // Only the invitations list answers this filter.
            Self::Invited => "1 = 0",
            Self::SettingUp => "p.status = 'active' AND p.username IS NULL AND p.ldap_dn IS NULL",
            Self::Active => {
                "p.status = 'active' AND (p.username IS NOT NULL OR p.ldap_dn IS NOT NULL)"
            }
            Self::Locked => "p.status = 'locked'",
            Self::PendingLdap => {
                "p.status <> 'deleted' AND EXISTS (SELECT 1 FROM jobs j WHERE j.kind = 'sync_account' \
                 AND j.subject_id = p.id AND j.status IN ('pending', 'failed'))"
            }
            Self::ExpiredMembership => {
                "p.status <> 'deleted' AND EXISTS (SELECT 1 FROM memberships m \
                 WHERE m.person_id = p.id AND m.ends_on < $3)"
            }
            Self::Deleted => "p.status = 'deleted'",
        }
    }
}

pub struct AccountSearch<'a> {
    /// Part of a name, email or username, or a uidNumber; `None` lists everyone.
    pub text: Option<&'a str>,
    pub status: StatusFilter,
    pub today: &'a str,
    pub limit: i64,
    pub offset: i64,
}

pub struct AccountPage {
    pub people: Vec<Person>,
    pub total: i64,
}

/// One of a person's memberships, for their account page.
pub struct PersonMembership {
    pub organisation_id: String,
    pub organisation_name: String,
    pub role: Role,
    pub ends_on: Option<String>,
}

/// A site-wide role held by someone.
pub struct StaffGrant {
    pub person: Person,
    pub role: Role,
    pub granted_at: UnixTime,
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("another account already uses this email address")]
    EmailTaken,
    #[error("the account is not in a state that allows this")]
    WrongState,
    #[error("the last site administrator cannot lose the role")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for StaffError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

const PERSON_COLUMNS: &str = "p.id, p.email, p.username, p.surname, p.given_name, \
     p.password_hash, p.status, p.created_at, p.ldap_dn, p.uid_number, p.gid_number, \
     p.login_shell, p.locked_at, p.lock_reason";

impl Store {
    /// A page of accounts matching `search`, by surname.
    pub async fn search_accounts(&self, search: &AccountSearch<'_>) -> StoreResult<AccountPage> {
        let pattern = search.text.map(contains_pattern).unwrap_or_default();
        let uid_number = search
            .text
            .and_then(|text| text.trim().parse::<i64>().ok())
            .unwrap_or(-1);
        let condition = search.status.condition();
        let text_condition = "($1 = '' OR p.search_text LIKE $1 ESCAPE '\\' OR p.uid_number = $2)";
        // Every statement binds $1..$3, so each names all three.
        let total_sql = format!(
            "SELECT COUNT(*) AS n FROM people p WHERE {text_condition} AND {condition} \
             AND ($3 = $3)"
        );
        let total: i64 = sqlx::query(AssertSqlSafe(total_sql))
            .bind(&pattern)
            .bind(uid_number)
            .bind(search.today)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let page_sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people p WHERE {text_condition} AND {condition} \
                          AND ($3 = $3) ORDER BY p.sort_key LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(AssertSqlSafe(page_sql))
            .bind(&pattern)
            .bind(uid_number)
            .bind(search.today)
            .bind(search.limit)
            .bind(search.offset)
            .fetch_all(self.pool())
            .await?;
        let people = rows
            .iter()
            .map(people::from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(AccountPage { people, total })
    }

    /// Locks an active account: it can no longer sign in, its sessions end now, and its
    /// LDAP entry loses its password and keys (through the outbox).
    pub async fn lock_account(
        &self,
        person_id: &str,
        reason: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Receipt, StaffError> {
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
            return Err(StaffError::WrongState);
        }
        keep_an_admin(work.conn(), person_id).await?;
        sqlx::query("DELETE FROM sessions WHERE person_id = $1")
            .bind(person_id)
            .execute(work.conn())
            .await?;
        work.queue(JobKind::SyncAccount, person_id).await?;
        Ok(work.commit(Some(person_id), event).await?)
    }

    /// Unlocks a locked account and writes its password and keys back to LDAP. A new
    /// grace period starts if it still has no membership.
    pub async fn unlock_account(
        &self,
        person_id: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Receipt, StaffError> {
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
            return Err(StaffError::WrongState);
        }
        work.queue(JobKind::SyncAccount, person_id).await?;
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
    ) -> Result<Receipt, StaffError> {
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
            Ok(_) => return Err(StaffError::WrongState),
            Err(error) if is_unique_violation(&error) => return Err(StaffError::EmailTaken),
            Err(error) => return Err(error.into()),
        }
        work.queue(JobKind::SyncAccount, person_id).await?;
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
    ) -> Result<Receipt, StaffError> {
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
            return Err(StaffError::WrongState);
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
        work.queue(JobKind::SyncAccount, person_id).await?;
        for organisation_id in &organisations {
            adjust_member_count(work.conn(), organisation_id, -1).await?;
            work.queue(JobKind::SyncGroup, organisation_id).await?;
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
        work.queue(JobKind::SyncAccount, person_id).await?;
        for organisation_id in &organisations {
            work.queue(JobKind::SyncGroup, organisation_id).await?;
        }
        work.commit(Some(person_id), event).await
    }

    /// A person's memberships with their organisations' names, by name.
    pub async fn memberships_of_person(
        &self,
        person_id: &str,
    ) -> StoreResult<Vec<PersonMembership>> {
        let rows = sqlx::query(
            "SELECT m.organisation_id, o.name, m.role, m.ends_on FROM memberships m \
             JOIN organisations o ON o.id = m.organisation_id WHERE m.person_id = $1 \
             ORDER BY LOWER(o.name), o.id",
        )
        .bind(person_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                Ok(PersonMembership {
                    organisation_id: row.try_get("organisation_id")?,
                    organisation_name: row.try_get("name")?,
                    role: Role::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                    ends_on: row.try_get("ends_on")?,
                })
            })
            .collect()
    }

    /// Everyone holding a site-wide role, by surname.
    pub async fn staff(&self) -> StoreResult<Vec<StaffGrant>> {
        let sql = format!(
            "SELECT {PERSON_COLUMNS}, g.role, g.granted_at FROM role_grants g \
             JOIN people p ON p.id = g.person_id WHERE g.organisation_id IS NULL \
             ORDER BY LOWER(p.surname), p.id, g.role"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .filter_map(|row| {
                let role: String = match row.try_get("role") {
                    Ok(role) => role,
                    Err(error) => return Some(Err(error.into())),
                };
                // Only site roles are staff roles; anything else is not shown here.
                let role = Role::parse(&role).filter(|role| role.is_site_wide())?;
                Some(Ok(StaffGrant {
                    person: match people::from_row(row) {
                        Ok(person) => person,
                        Err(error) => return Some(Err(error)),
                    },
                    role,
                    granted_at: match row.try_get("granted_at") {
                        Ok(at) => at,
                        Err(error) => return Some(Err(error.into())),
                    },
                }))
            })
            .collect()
    }

    /// Grants a site role; false when the person already held it.
    pub async fn grant_site_role(
        &self,
        person_id: &str,
        role: Role,
        granted_by: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<bool, StaffError> {
        let mut work = self.begin(now).await?;
        let inserted = sqlx::query(
            "INSERT INTO role_grants (id, person_id, role, organisation_id, granted_at, granted_by) \
             SELECT $1, $2, $3, NULL, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM role_grants \
             WHERE person_id = $2 AND role = $3 AND organisation_id IS NULL) \
             AND EXISTS (SELECT 1 FROM people WHERE id = $2 AND status = 'active')",
        )
        .bind(super::new_id())
        .bind(person_id)
        .bind(role.as_str())
        .bind(now)
        .bind(granted_by)
        .execute(work.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        // Roles change nothing in LDAP.
        work.commit_unqueued(Some(person_id), event).await?;
        Ok(true)
    }

    /// Revokes a site role; refuses to remove the last site administrator.
    pub async fn revoke_site_role(
        &self,
        person_id: &str,
        role: Role,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<bool, StaffError> {
        let mut work = self.begin(now).await?;
        hold_admin_grants(work.conn()).await?;
        let revoked = sqlx::query(
            "DELETE FROM role_grants WHERE person_id = $1 AND role = $2 AND organisation_id IS NULL",
        )
        .bind(person_id)
        .bind(role.as_str())
        .execute(work.conn())
        .await?;
        if revoked.rows_affected() == 0 {
            return Ok(false);
        }
        if role == Role::SiteAdmin && active_admins(work.conn()).await? == 0 {
            // Dropping the unit of work rolls the revocation back.
            return Err(StaffError::LastAdmin);
        }
        work.commit_unqueued(Some(person_id), event).await?;
        Ok(true)
    }
}

/// Takes the row locks of every site-admin grant, so changes that could remove the last
/// active administrator (lock, delete, revoke) run one after another even on PostgreSQL:
/// two admins locking each other at once cannot both succeed.
async fn hold_admin_grants(tx: &mut sqlx::AnyConnection) -> StoreResult<()> {
    sqlx::query(
        "UPDATE role_grants SET role = role WHERE role = 'admin' AND organisation_id IS NULL",
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn active_admins(tx: &mut sqlx::AnyConnection) -> StoreResult<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM role_grants g JOIN people p ON p.id = g.person_id \
         WHERE g.role = 'admin' AND g.organisation_id IS NULL AND p.status = 'active'",
    )
    .fetch_one(&mut *tx)
    .await?
    .try_get("n")?)
}

/// Refuses (rolling back) a change that left no active site administrator, when the
/// person changed was one.
async fn keep_an_admin(tx: &mut sqlx::AnyConnection, person_id: &str) -> Result<(), StaffError> {
    let was_admin: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM role_grants WHERE person_id = $1 AND role = 'admin' \
         AND organisation_id IS NULL",
    )
    .bind(person_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get("n")?;
    if was_admin > 0 && active_admins(tx).await? == 0 {
        return Err(StaffError::LastAdmin);
    }
    Ok(())
}
