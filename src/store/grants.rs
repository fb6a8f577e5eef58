//! Role grants: site-wide or scoped to one organisation.

use sqlx::{AssertSqlSafe, Row};

use super::audit::AuditEvent;
use super::people::Person;
use super::{AccountChangeError, Store, StoreResult, new_id};
use crate::domain::{Role, UnixTime};

pub(crate) async fn insert(
    tx: &mut sqlx::AnyConnection,
    person_id: &str,
    role: Role,
    organisation_id: Option<&str>,
    granted_by: Option<&str>,
    now: UnixTime,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO role_grants (id, person_id, role, organisation_id, granted_at, granted_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(person_id)
    .bind(role.as_str())
    .bind(organisation_id)
    .bind(now)
    .bind(granted_by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A site-wide role held by someone.
pub struct StaffGrant {
    pub person: Person,
    pub role: Role,
    pub granted_at: UnixTime,
}

const PERSON_COLUMNS: &str = super::people::PERSON_COLUMNS;

impl Store {
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
                    person: match super::people::from_row(row) {
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
    ) -> Result<bool, AccountChangeError> {
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
    ) -> Result<bool, AccountChangeError> {
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
            return Err(AccountChangeError::LastAdmin);
        }
        work.commit_unqueued(Some(person_id), event).await?;
        Ok(true)
    }
}

/// Takes the row locks of every site-admin grant, so changes that could remove the last
/// active administrator (lock, delete, revoke) run one after another even on PostgreSQL:
/// two admins locking each other at once cannot both succeed.
pub(crate) async fn hold_admin_grants(tx: &mut sqlx::AnyConnection) -> StoreResult<()> {
    sqlx::query(
        "UPDATE role_grants SET role = role WHERE role = 'admin' AND organisation_id IS NULL",
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(crate) async fn active_admins(tx: &mut sqlx::AnyConnection) -> StoreResult<i64> {
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
pub(crate) async fn keep_an_admin(
    tx: &mut sqlx::AnyConnection,
    person_id: &str,
) -> Result<(), AccountChangeError> {
    let was_admin: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM role_grants WHERE person_id = $1 AND role = 'admin' \
         AND organisation_id IS NULL",
    )
    .bind(person_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get("n")?;
    if was_admin > 0 && active_admins(tx).await? == 0 {
        return Err(AccountChangeError::LastAdmin);
    }
    Ok(())
}
