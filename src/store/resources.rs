//! Resources of organisations, their access lists, and who may use each: the facts the
//! access rule (`domain::Access`) decides on, and the set its posixGroup holds.

use std::collections::HashSet;

// Dynamic SQL here is assembled only from constant column lists and placeholders.
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::audit::AuditEvent;
use super::jobs::JobKind;
use super::names::{NameKind, claim_name};
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult, is_unique_violation, new_id};
use crate::domain::{AccessFacts, Description, ResourceKind, ShortName, Site, UnixTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceStatus {
    Active,
    Retired,
}

impl ResourceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub id: String,
    pub organisation_id: String,
    pub short_name: String,
    /// The posixGroup's cn: `<org short>-<resource short>`.
    pub group_name: String,
    pub name: String,
    pub kind: String,
    pub site: String,
    pub description: String,
    pub ends_on: Option<String>,
    pub status: ResourceStatus,
    pub restricted: bool,
    pub assigned_to: Option<String>,
    pub gid_number: i64,
    pub version: i64,
    pub created_at: UnixTime,
    /// An admin removed its (retired) group from LDAP.
    pub group_deleted: bool,
}

impl Resource {
    /// Active and not past its end date.
    pub fn in_use(&self, today: &str) -> bool {
        self.status == ResourceStatus::Active
            && self
                .ends_on
                .as_deref()
                .is_none_or(|ends_on| ends_on >= today)
    }
}

pub(super) const COLUMNS: &str = "r.id, r.organisation_id, r.short_name, r.group_name, r.name, r.kind, \
                       r.site, r.description, r.ends_on, r.status, r.restricted, r.assigned_to, \
                       r.gid_number, r.version, r.created_at, r.group_deleted";

pub(super) fn from_row(row: &AnyRow) -> StoreResult<Resource> {
    let status: String = row.try_get("status")?;
    Ok(Resource {
        id: row.try_get("id")?,
        organisation_id: row.try_get("organisation_id")?,
        short_name: row.try_get("short_name")?,
        group_name: row.try_get("group_name")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        site: row.try_get("site")?,
        description: row.try_get("description")?,
        ends_on: row.try_get("ends_on")?,
        status: match status.as_str() {
            "active" => ResourceStatus::Active,
            "retired" => ResourceStatus::Retired,
            other => return Err(StoreError::Corrupt(format!("resource status {other:?}"))),
        },
        restricted: row.try_get::<i64, _>("restricted")? != 0,
        assigned_to: row.try_get("assigned_to")?,
        gid_number: row.try_get("gid_number")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        group_deleted: row.try_get::<i64, _>("group_deleted")? != 0,
    })
}

pub struct NewResource<'a> {
    pub organisation_id: &'a str,
    pub short_name: &'a ShortName,
    pub group_name: &'a ShortName,
    pub name: &'a str,
    pub kind: &'a ResourceKind,
    pub site: &'a Site,
    pub description: &'a Description,
    pub ends_on: Option<&'a str>,
    pub gid_number: i64,
}

/// A change to a resource, applied only at the version the form or request read.
pub enum ResourceChange<'a> {
    Restrict(bool),
    /// The member a device is assigned to, or nobody.
    Assign(Option<&'a str>),
    /// The people on a restricted resource's access list, all of them.
    AccessList(&'a [String]),
    EndsOn(Option<&'a str>),
    Retire,
    /// To another organisation: the group is renamed `<new org>-<short>` (the name claimed
    /// here), the old one removed from LDAP; the access list and assignment, which named
    /// the old organisation's members, are cleared.
    Move {
        organisation_id: &'a str,
        group_name: &'a ShortName,
    },
    /// Removes a retired resource's group from LDAP; its gidNumber stays taken.
    DeleteGroup,
    /// Its name, site and description (nothing LDAP holds).
    Details {
        name: &'a str,
        site: &'a Site,
        description: &'a Description,
    },
}

/// The access facts' membership part, as stored.
pub(crate) const CURRENT_MEMBERSHIP: &str = "(m.ends_on IS NULL OR m.ends_on >= $2) \
     AND (m.ended_for IS NULL OR m.ended_for <> m.ends_on)";

/// `domain::Access::decide` as SQL, over a resource `r`, a membership `m` of its
/// organisation and that member's person `p`, on the day bound to `$2`: the groups and the
/// account pages use this one fragment.
pub(super) fn may_use() -> String {
    format!(
        "r.status = 'active' AND (r.ends_on IS NULL OR r.ends_on >= $2) \
         AND p.status = 'active' AND {CURRENT_MEMBERSHIP} \
         AND (r.assigned_to = p.id \
              OR (r.restricted = 0 AND EXISTS (SELECT 1 FROM role_permissions rp \
                  WHERE rp.role = m.role AND rp.permission = 'resources.use')) \
              OR (r.restricted <> 0 AND EXISTS (SELECT 1 FROM resource_access a \
                  WHERE a.resource_id = r.id AND a.person_id = p.id)))"
    )
}

impl Store {
    /// Creates a resource with its posixGroup name claimed (shared with people and
    /// organisations) and its group's sync queued.
    pub async fn create_resource(
        &self,
        new: NewResource<'_>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<(String, Receipt)> {
        let id = new_id();
        let mut work = self.begin(now).await?;
        let inserted = sqlx::query(
            "INSERT INTO resources (id, organisation_id, short_name, group_name, name, kind, site, \
             description, ends_on, status, restricted, gid_number, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', 0, $10, 1, $11, $11)",
        )
        .bind(&id)
        .bind(new.organisation_id)
        .bind(new.short_name.as_str())
        .bind(new.group_name.as_str())
        .bind(new.name)
        .bind(new.kind.as_str())
        .bind(new.site.as_str())
        .bind(new.description.as_str())
        .bind(new.ends_on)
        .bind(new.gid_number)
        .bind(now)
        .execute(work.conn())
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::Conflict("a resource with this short name"));
            }
            Err(error) => return Err(error.into()),
        }
        let group = new.group_name.as_str();
        if !claim_name(work.conn(), group, NameKind::Resource, &id, now).await? {
            return Err(StoreError::Conflict("a group or person with this name"));
        }
        work.queue(JobKind::SyncResource, &id);
        let event = AuditEvent {
            organisation_id: Some(new.organisation_id),
            ..event
        };
        let receipt = work.commit(Some(&id), event).await?;
        Ok((id, receipt))
    }

    pub async fn resource(&self, id: &str) -> StoreResult<Option<Resource>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM resources r WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// An organisation's resources, by short name.
    pub async fn resources_of(&self, organisation_id: &str) -> StoreResult<Vec<Resource>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM resources r WHERE r.organisation_id = $1 ORDER BY r.short_name"
        )))
        .bind(organisation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The short names of an organisation's resources in use on `today`.
    pub async fn resource_names_in_use(
        &self,
        organisation_id: &str,
        today: &str,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT short_name FROM resources WHERE organisation_id = $1 AND status = 'active' \
             AND (ends_on IS NULL OR ends_on >= $2) ORDER BY short_name",
        )
        .bind(organisation_id)
        .bind(today)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("short_name").map_err(Into::into))
            .collect()
    }

    /// Every resource, by group name (the command line's list).
    pub async fn all_resources(&self) -> StoreResult<Vec<Resource>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM resources r ORDER BY r.group_name"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn resource_by_group_name(&self, group: &str) -> StoreResult<Option<Resource>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM resources r WHERE r.group_name = $1"
        )))
        .bind(group)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The usernames of these people (those who have one), sorted.
    pub async fn usernames_of(&self, person_ids: &[String]) -> StoreResult<Vec<String>> {
        let mut names = Vec::new();
        for person_id in person_ids {
            let row = sqlx::query("SELECT username FROM people WHERE id = $1")
                .bind(person_id)
                .fetch_optional(self.pool())
                .await?;
            if let Some(name) = row
                .map(|row| row.try_get::<Option<String>, _>("username"))
                .transpose()?
                .flatten()
            {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The resources a person may use on `today`, with the organisation's name: the same
    /// rule as the groups (`resource_member_uids`), for one person.
    pub async fn resources_usable_by(
        &self,
        person_id: &str,
        today: &str,
    ) -> StoreResult<Vec<(Resource, String)>> {
        let sql = format!(
            "SELECT {COLUMNS}, o.name AS organisation_name FROM resources r \
             JOIN organisations o ON o.id = r.organisation_id \
             JOIN memberships m ON m.organisation_id = r.organisation_id AND m.person_id = $1 \
             JOIN people p ON p.id = m.person_id \
             WHERE {} \
             ORDER BY o.name, r.name",
            may_use()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(person_id)
            .bind(today)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| Ok((from_row(row)?, row.try_get("organisation_name")?)))
            .collect()
    }

    /// The people on a resource's access list.
    pub async fn access_list(&self, resource_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT person_id FROM resource_access WHERE resource_id = $1")
            .bind(resource_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("person_id").map_err(Into::into))
            .collect()
    }

    /// The usernames the resource's posixGroup must hold on `today` (`YYYY-MM-DD`): the
    /// set `domain::Access::decide` allows, computed in one query.
    pub async fn resource_member_uids(
        &self,
        resource_id: &str,
        today: &str,
    ) -> StoreResult<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT p.username FROM resources r \
             JOIN memberships m ON m.organisation_id = r.organisation_id \
             JOIN people p ON p.id = m.person_id \
             WHERE r.id = $1 AND p.username IS NOT NULL AND {} \
             ORDER BY p.username",
            may_use()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(resource_id)
            .bind(today)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("username").map_err(Into::into))
            .collect()
    }

    /// What the access rule needs about the person with `username` and this resource, on
    /// `today`; `None` when no account has that username.
    pub async fn access_facts(
        &self,
        resource: &Resource,
        username: &str,
        today: &str,
    ) -> StoreResult<Option<AccessFacts>> {
        let sql = format!(
            "SELECT p.id, p.status, m.role, \
             CASE WHEN m.id IS NULL THEN 0 WHEN {CURRENT_MEMBERSHIP} THEN 2 ELSE 1 END AS membership, \
             EXISTS (SELECT 1 FROM role_permissions rp WHERE rp.role = m.role \
                     AND rp.permission = 'resources.use') AS role_may_use, \
             EXISTS (SELECT 1 FROM resource_access a WHERE a.resource_id = $3 \
                     AND a.person_id = p.id) AS listed \
             FROM people p LEFT JOIN memberships m ON m.person_id = p.id AND m.organisation_id = $4 \
             WHERE p.username = $1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(username)
            .bind(today)
            .bind(&resource.id)
            .bind(&resource.organisation_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let person_id: String = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        let membership: i64 = row.try_get("membership")?;
        let flag = |name: &str| -> StoreResult<bool> {
            // Booleans come back as integers from SQLite and as booleans from PostgreSQL.
            Ok(row
                .try_get::<bool, _>(name)
                .or_else(|_| row.try_get::<i64, _>(name).map(|n| n != 0))?)
        };
        Ok(Some(AccessFacts {
            resource_active: resource.in_use(today),
            account_active: status == "active",
            member: membership > 0,
            membership_current: membership == 2,
            assigned: resource.assigned_to.as_deref() == Some(person_id.as_str()),
            restricted: resource.restricted,
            listed: flag("listed")?,
            role_may_use: flag("role_may_use")?,
        }))
    }

    /// Makes all `changes` to a resource if it is still at `version`, at once; `None` when
    /// it moved on (nothing was written). Queues its group's sync.
    pub async fn change_resource(
        &self,
        resource_id: &str,
        version: i64,
        changes: &[ResourceChange<'_>],
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Option<Receipt>> {
        let mut work = self.begin(now).await?;
        let claimed = sqlx::query(
            "UPDATE resources SET version = version + 1, updated_at = $1 \
             WHERE id = $2 AND version = $3",
        )
        .bind(now)
        .bind(resource_id)
        .bind(version)
        .execute(work.conn())
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        for change in changes {
            match change {
                ResourceChange::Restrict(restricted) => {
                    sqlx::query("UPDATE resources SET restricted = $1 WHERE id = $2")
                        .bind(i64::from(*restricted))
                        .bind(resource_id)
                        .execute(work.conn())
                        .await?;
                }
                ResourceChange::Assign(person_id) => {
                    sqlx::query("UPDATE resources SET assigned_to = $1 WHERE id = $2")
                        .bind(person_id)
                        .bind(resource_id)
                        .execute(work.conn())
                        .await?;
                }
                ResourceChange::AccessList(people) => {
                    sqlx::query("DELETE FROM resource_access WHERE resource_id = $1")
                        .bind(resource_id)
                        .execute(work.conn())
                        .await?;
                    let unique: HashSet<&String> = people.iter().collect();
                    for person_id in unique {
                        sqlx::query(
                            "INSERT INTO resource_access (resource_id, person_id, added_at) \
                         VALUES ($1, $2, $3)",
                        )
                        .bind(resource_id)
                        .bind(person_id)
                        .bind(now)
                        .execute(work.conn())
                        .await?;
                    }
                }
                ResourceChange::EndsOn(ends_on) => {
                    sqlx::query("UPDATE resources SET ends_on = $1 WHERE id = $2")
                        .bind(ends_on)
                        .bind(resource_id)
                        .execute(work.conn())
                        .await?;
                }
                ResourceChange::Retire => {
                    sqlx::query("UPDATE resources SET status = 'retired' WHERE id = $1")
                        .bind(resource_id)
                        .execute(work.conn())
                        .await?;
                }
                ResourceChange::Move {
                    organisation_id,
                    group_name,
                } => {
                    let old = drop_group(work.conn(), resource_id, now).await?;
                    let group = group_name.as_str();
                    if !claim_name(work.conn(), group, NameKind::Resource, resource_id, now).await?
                    {
                        return Err(StoreError::Conflict("a group or person with this name"));
                    }
                    let moved = sqlx::query(
                        "UPDATE resources SET organisation_id = $1, group_name = $2, \
                         assigned_to = NULL, restricted = 0 WHERE id = $3",
                    )
                    .bind(*organisation_id)
                    .bind(group)
                    .bind(resource_id)
                    .execute(work.conn())
                    .await;
                    match moved {
                        Ok(_) => {}
                        Err(error) if is_unique_violation(&error) => {
                            return Err(StoreError::Conflict("a resource with this short name"));
                        }
                        Err(error) => return Err(error.into()),
                    }
                    sqlx::query("DELETE FROM resource_access WHERE resource_id = $1")
                        .bind(resource_id)
                        .execute(work.conn())
                        .await?;
                    work.queue(JobKind::DropResourceGroup, &old);
                }
                ResourceChange::Details {
                    name,
                    site,
                    description,
                } => {
                    sqlx::query(
                        "UPDATE resources SET name = $1, site = $2, description = $3 WHERE id = $4",
                    )
                    .bind(*name)
                    .bind(site.as_str())
                    .bind(description.as_str())
                    .bind(resource_id)
                    .execute(work.conn())
                    .await?;
                }
                ResourceChange::DeleteGroup => {
                    let old = drop_group(work.conn(), resource_id, now).await?;
                    sqlx::query("UPDATE resources SET group_deleted = 1 WHERE id = $1")
                        .bind(resource_id)
                        .execute(work.conn())
                        .await?;
                    work.queue(JobKind::DropResourceGroup, &old);
                }
            }
        }
        work.queue(JobKind::SyncResource, resource_id);
        Ok(Some(work.commit(Some(resource_id), event).await?))
    }
}

impl Store {
    /// Active resources whose end date is before `today` and whose ending was not applied.
    pub async fn resource_endings_due(&self, today: &str) -> StoreResult<Vec<Resource>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM resources r WHERE r.status = 'active' AND r.ends_on < $1 \
             AND (r.ended_for IS NULL OR r.ended_for <> r.ends_on) ORDER BY r.ends_on, r.id"
        )))
        .bind(today)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Applies an ending once (several instances may run the lifecycle): records it and
    /// queues the group's sync, which empties it. `None` when already done.
    pub async fn end_resource(
        &self,
        resource: &Resource,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Option<Receipt>> {
        let mut work = self.begin(now).await?;
        let claimed = sqlx::query(
            "UPDATE resources SET ended_for = ends_on WHERE id = $1 AND ends_on = $2 \
             AND (ended_for IS NULL OR ended_for <> ends_on)",
        )
        .bind(&resource.id)
        .bind(resource.ends_on.as_deref())
        .execute(work.conn())
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        work.queue(JobKind::SyncResource, &resource.id);
        let event = AuditEvent {
            organisation_id: Some(&resource.organisation_id),
            ..event
        };
        Ok(Some(work.commit(Some(&resource.id), event).await?))
    }

    /// Active resources ending between `today` and `until` whose owners were not reminded
    /// for that end date.
    pub async fn resource_reminders_due(
        &self,
        today: &str,
        until: &str,
    ) -> StoreResult<Vec<Resource>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM resources r WHERE r.status = 'active' AND r.ends_on >= $1 \
             AND r.ends_on <= $2 AND (r.reminded_for IS NULL OR r.reminded_for <> r.ends_on) \
             ORDER BY r.ends_on, r.id"
        )))
        .bind(today)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Claims the reminder for the resource's end date with its mails, in one transaction;
    /// false when another run has it.
    pub async fn claim_resource_reminder(
        &self,
        resource: &Resource,
        mails: &[super::mail_outbox::QueuedMail],
        now: UnixTime,
    ) -> StoreResult<bool> {
        let mut tx = self.write_transaction().await?;
        let claimed = sqlx::query(
            "UPDATE resources SET reminded_for = ends_on WHERE id = $1 AND ends_on = $2 \
             AND (reminded_for IS NULL OR reminded_for <> ends_on)",
        )
        .bind(&resource.id)
        .bind(resource.ends_on.as_deref())
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(false);
        }
        for mail in mails {
            super::mail_outbox::insert(&mut tx, mail, None, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Records the resource's current group as one that must no longer exist in LDAP; its name.
async fn drop_group(
    conn: &mut sqlx::AnyConnection,
    resource_id: &str,
    now: UnixTime,
) -> StoreResult<String> {
    let row = sqlx::query("SELECT group_name, gid_number FROM resources WHERE id = $1")
        .bind(resource_id)
        .fetch_one(&mut *conn)
        .await?;
    let group: String = row.try_get("group_name")?;
    let gid_number: i64 = row.try_get("gid_number")?;
    sqlx::query(
        "INSERT INTO dropped_resource_groups (group_name, gid_number, dropped_at) \
         VALUES ($1, $2, $3) ON CONFLICT (group_name) DO UPDATE SET gid_number = $2, dropped_at = $3",
    )
    .bind(&group)
    .bind(gid_number)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(group)
}

impl Store {
    /// The gidNumber a dropped resource group had, if it is still to be removed: `None`
    /// once a resource holds that name again.
    pub async fn dropped_resource_group(&self, group_name: &str) -> StoreResult<Option<i64>> {
        let row = sqlx::query(
            "SELECT d.gid_number FROM dropped_resource_groups d WHERE d.group_name = $1 \
             AND NOT EXISTS (SELECT 1 FROM resources r WHERE r.group_name = d.group_name \
                             AND r.group_deleted = 0)",
        )
        .bind(group_name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|row| row.try_get("gid_number")).transpose()?)
    }
}
