//! Organisations and their POSIX group number.

use sqlx::any::AnyRow;
// Dynamic SQL here is assembled only from constant column lists.
use sqlx::{AssertSqlSafe, Row};

use super::audit::AuditEvent;
use super::jobs::JobKind;
use super::names::{NameKind, claim_name};
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult, is_unique_violation, new_id};
use crate::domain::{Description, OrganisationName, ShortName, UnixTime};

#[derive(Debug, Clone)]
pub struct Organisation {
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub description: String,
    pub gid_number: i64,
    pub version: i64,
    pub created_at: UnixTime,
    pub member_count: i64,
    /// Changes whenever the member list would look different (see `members_page`).
    pub members_version: i64,
    /// Directory work for this organisation's group is waiting (LDAP down or busy).
    pub sync_pending: bool,
}

/// Selected from `organisations o`; the pending-job flag comes along so a page needs no
/// extra query for its "pending" banner.
pub(super) const COLUMNS: &str = "o.id, o.name, o.short_name, o.description, o.gid_number, o.version, \
     o.created_at, o.member_count, o.members_version, (SELECT COUNT(*) FROM jobs j WHERE j.kind = 'sync_group' \
     AND j.subject_id = o.id AND j.status = 'pending') AS pending_jobs";

pub(super) fn from_row(row: &AnyRow) -> StoreResult<Organisation> {
    Ok(Organisation {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        short_name: row.try_get("short_name")?,
        description: row.try_get("description")?,
        gid_number: row.try_get("gid_number")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        member_count: row.try_get("member_count")?,
        members_version: row.try_get("members_version")?,
        sync_pending: row.try_get::<i64, _>("pending_jobs")? > 0,
    })
}

pub struct NewOrganisation<'a> {
    pub name: &'a OrganisationName,
    pub short_name: &'a ShortName,
    pub description: &'a Description,
    pub gid_number: i64,
}

/// Result of an update guarded by a version number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioned {
    Updated,
    /// Someone changed it since the form was loaded; nothing was written.
    Stale,
}

impl Store {
    /// Creates the organisation and queues its posixGroup, in one transaction.
    pub async fn create_organisation(
        &self,
        new: NewOrganisation<'_>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<(String, Receipt)> {
        let id = new_id();
        let mut work = self.begin(now).await?;
        let inserted = sqlx::query(
            "INSERT INTO organisations (id, name, short_name, description, gid_number, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
        )
        .bind(&id)
        .bind(new.name.as_str())
        .bind(new.short_name.as_str())
        .bind(new.description.as_str())
        .bind(new.gid_number)
        .bind(now)
        .execute(work.conn())
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::Conflict("an organisation with this short name"));
            }
            Err(error) => return Err(error.into()),
        }
        let short_name = new.short_name.as_str();
        if !claim_name(work.conn(), short_name, NameKind::Organisation, &id, now).await? {
            return Err(StoreError::Conflict("a group or person with this name"));
        }
        work.queue(JobKind::SyncGroup, &id);
        let event = AuditEvent {
            organisation_id: Some(&id),
            ..event
        };
        let receipt = work.commit(Some(&id), event).await?;
        Ok((id, receipt))
    }

    pub async fn organisation(&self, id: &str) -> StoreResult<Option<Organisation>> {
        let sql = format!("SELECT {COLUMNS} FROM organisations o WHERE o.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn organisation_by_short_name(
        &self,
        short_name: &ShortName,
    ) -> StoreResult<Option<Organisation>> {
        let sql = format!("SELECT {COLUMNS} FROM organisations o WHERE o.short_name = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(short_name.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every organisation (for site staff), by name.
    pub async fn all_organisations(&self) -> StoreResult<Vec<Organisation>> {
        let sql = format!("SELECT {COLUMNS} FROM organisations o ORDER BY o.name");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The organisations a person belongs to, by name.
    pub async fn organisations_of(&self, person_id: &str) -> StoreResult<Vec<Organisation>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM organisations o JOIN memberships m ON m.organisation_id = o.id \
             WHERE m.person_id = $1 ORDER BY o.name"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(person_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Changes the name and/or description if the organisation is still at
    /// `expected_version`.
    pub async fn update_details(
        &self,
        id: &str,
        expected_version: i64,
        name: Option<&OrganisationName>,
        description: Option<&Description>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Versioned> {
        let mut work = self.begin(now).await?;
        let updated = sqlx::query(
            "UPDATE organisations SET name = COALESCE($5, name), \
             description = COALESCE($1, description), version = version + 1, updated_at = $2 \
             WHERE id = $3 AND version = $4",
        )
        .bind(description.map(Description::as_str))
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .bind(name.map(OrganisationName::as_str))
        .execute(work.conn())
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(Versioned::Stale);
        }
        let event = AuditEvent {
            organisation_id: Some(id),
            ..event
        };
        // Neither the name nor the description is in LDAP.
        work.commit_unqueued(Some(id), event).await?;
        Ok(Versioned::Updated)
    }
}
