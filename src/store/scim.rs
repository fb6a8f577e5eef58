//! What SCIM targets need from the database: the remote ids each target gave the portal's
//! objects, the facts a User or Group is built from, the first full push of a new target,
//! its shared pacing and pauses, and the last drift report mailed about it.

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, Row};

use super::jobs::{Job, JobKind};
use super::resources::CURRENT_MEMBERSHIP;
use super::{Store, StoreResult};
use crate::domain::UnixTime;

/// A pushed object's kind at a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimKind {
    User,
    Group,
}

impl ScimKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ScimKind::User => "user",
            ScimKind::Group => "group",
        }
    }
}

/// What a User is built from: one account with a username.
#[derive(Debug, Clone)]
pub struct ScimUserFacts {
    pub person_id: String,
    pub username: String,
    pub email: String,
    pub surname: String,
    pub given_name: Option<String>,
    /// Active, and a current member of at least one organisation.
    pub active: bool,
    /// `<org short name>:<permission>` for every current membership, sorted.
    pub entitlements: Vec<String>,
}

/// What a Group is built from: an organisation or a resource's access group.
#[derive(Debug, Clone)]
pub struct ScimGroupFacts {
    pub id: String,
    pub display_name: String,
    /// Usernames of the people the LDAP group holds.
    pub member_usernames: Vec<String>,
}

const USER_COLUMNS: &str = "p.id, p.username, p.email, p.surname, p.given_name, p.status";

impl Store {
    /// The User the portal expects for this person; `None` when none should exist (no
    /// username, deleted, or unknown).
    pub async fn scim_user_facts(
        &self,
        person_id: &str,
        today: &str,
    ) -> StoreResult<Option<ScimUserFacts>> {
        let users = self
            .scim_users_where("p.id = $1", Some(person_id), today)
            .await?;
        Ok(users.into_iter().next())
    }

    /// Every User the portal expects, by username.
    pub async fn scim_expected_users(&self, today: &str) -> StoreResult<Vec<ScimUserFacts>> {
        self.scim_users_where("1 = 1", None, today).await
    }

    async fn scim_users_where(
        &self,
        condition: &'static str,
        person_id: Option<&str>,
        today: &str,
    ) -> StoreResult<Vec<ScimUserFacts>> {
        let people_sql = format!(
            "SELECT {USER_COLUMNS} FROM people p WHERE p.username IS NOT NULL \
             AND p.status <> 'deleted' AND {condition} ORDER BY p.username"
        );
        let mut people = sqlx::query(AssertSqlSafe(people_sql));
        if let Some(id) = person_id {
            people = people.bind(id);
        }
        let people = people.fetch_all(self.pool()).await?;
        // `$2` is today in CURRENT_MEMBERSHIP; `$1` binds the person when one is asked for.
        let grants_sql = format!(
            "SELECT m.person_id, o.short_name, rp.permission FROM memberships m \
             JOIN organisations o ON o.id = m.organisation_id \
             LEFT JOIN role_permissions rp ON rp.role = m.role \
             WHERE {CURRENT_MEMBERSHIP} AND ($1 = '' OR m.person_id = $1)"
        );
        let grants = sqlx::query(AssertSqlSafe(grants_sql))
            .bind(person_id.unwrap_or(""))
            .bind(today)
            .fetch_all(self.pool())
            .await?;
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for row in &grants {
            let entry = members.entry(row.try_get("person_id")?).or_default();
            let permission: Option<String> = row.try_get("permission")?;
            if let Some(permission) = permission {
                let short_name: String = row.try_get("short_name")?;
                entry.push(format!("{short_name}:{permission}"));
            }
        }
        people
            .iter()
            .map(|row| {
                let person_id: String = row.try_get("id")?;
                let status: String = row.try_get("status")?;
                let grants = members.get(&person_id);
                let mut entitlements = grants.cloned().unwrap_or_default();
                entitlements.sort();
                entitlements.dedup();
                Ok(ScimUserFacts {
                    active: status == "active" && grants.is_some(),
                    username: row.try_get("username")?,
                    email: row.try_get("email")?,
                    surname: row.try_get("surname")?,
                    given_name: row.try_get("given_name")?,
                    entitlements,
                    person_id,
                })
            })
            .collect()
    }

    /// The Group the portal expects for an organisation or resource id; `None` when none
    /// should exist.
    pub async fn scim_group_facts(
        &self,
        id: &str,
        today: &str,
    ) -> StoreResult<Option<ScimGroupFacts>> {
        if let Some(organisation) = self.organisation(id).await? {
            return Ok(Some(ScimGroupFacts {
                id: organisation.id,
                display_name: organisation.short_name,
                member_usernames: self.member_uids(id, today).await?,
            }));
        }
        match self.resource(id).await? {
            Some(resource) if !resource.group_deleted => Ok(Some(ScimGroupFacts {
                id: resource.id,
                display_name: resource.group_name,
                member_usernames: self.resource_member_uids(id, today).await?,
            })),
            _ => Ok(None),
        }
    }

    /// The ids of every Group the portal expects: organisations, then resources.
    pub async fn scim_expected_group_ids(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM organisations UNION ALL \
             SELECT id FROM resources WHERE group_deleted = 0",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| row.try_get("id").map_err(Into::into))
            .collect()
    }

    /// Whether `id` is (or was) a person, organisation or resource of this portal: what
    /// makes a remote object's `externalId` the portal's.
    pub async fn is_portal_id(&self, id: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM people WHERE id = $1) \
             + (SELECT COUNT(*) FROM organisations WHERE id = $1) \
             + (SELECT COUNT(*) FROM resources WHERE id = $1) AS n",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// The target's id for a portal object, if it was pushed there.
    pub async fn scim_remote_id(
        &self,
        target: &str,
        kind: ScimKind,
        local_id: &str,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT remote_id FROM scim_objects WHERE target = $1 AND kind = $2 AND local_id = $3",
        )
        .bind(target)
        .bind(kind.as_str())
        .bind(local_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("remote_id")?),
            None => None,
        })
    }

    /// The target's User ids of these usernames' accounts (those pushed so far), with the
    /// accounts' portal ids.
    pub async fn scim_users_by_username(
        &self,
        target: &str,
        usernames: &[String],
    ) -> StoreResult<Vec<(String, String, Option<String>)>> {
        let mut found = Vec::with_capacity(usernames.len());
        for chunk in usernames.chunks(super::INSERT_CHUNK) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT p.username, p.id, s.remote_id FROM people p \
                 LEFT JOIN scim_objects s ON s.local_id = p.id AND s.target = $1 AND s.kind = 'user' \
                 WHERE p.username IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(target);
            for username in chunk {
                query = query.bind(username);
            }
            for row in query.fetch_all(self.pool()).await? {
                found.push((
                    row.try_get("username")?,
                    row.try_get("id")?,
                    row.try_get("remote_id")?,
                ));
            }
        }
        Ok(found)
    }

    pub async fn set_scim_remote_id(
        &self,
        target: &str,
        kind: ScimKind,
        local_id: &str,
        remote_id: &str,
        now: UnixTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scim_objects (target, kind, local_id, remote_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target, kind, local_id) \
             DO UPDATE SET remote_id = excluded.remote_id, updated_at = excluded.updated_at",
        )
        .bind(target)
        .bind(kind.as_str())
        .bind(local_id)
        .bind(remote_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn forget_scim_remote_id(
        &self,
        target: &str,
        kind: ScimKind,
        local_id: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM scim_objects WHERE target = $1 AND kind = $2 AND local_id = $3")
            .bind(target)
            .bind(kind.as_str())
            .bind(local_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Queues everything for a target the first time any instance sees it (a target added
    /// to a running site); true when this call did. One transaction, so a crash leaves
    /// either nothing or the whole push queued.
    pub async fn seed_scim_target(
        &self,
        target: &str,
        users: bool,
        groups: bool,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let mut tx = self.write_transaction().await?;
        let claimed = sqlx::query(
            "INSERT INTO scim_targets (name, seeded_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(target)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        // Job ids are derived from the target and subject: a target is seeded only once.
        let insert = |kind: JobKind, subjects: &'static str| {
            format!(
                "INSERT INTO jobs (id, target, kind, subject_id, status, attempts, next_attempt_at, created_at, updated_at) \
                 SELECT 'seed:' || $1 || ':' || s.id, $1, '{kind}', s.id, 'pending', 0, $2, $2, $2 FROM ({subjects}) s \
                 WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.target = $1 AND j.kind = '{kind}' \
                 AND j.subject_id = s.id AND j.status = 'pending')",
                kind = kind.as_str()
            )
        };
        if users {
            let sql = insert(
                JobKind::ScimUser,
                "SELECT id FROM people WHERE username IS NOT NULL AND status <> 'deleted'",
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(target)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        if groups {
            let sql = insert(
                JobKind::ScimGroup,
                "SELECT id FROM organisations UNION ALL SELECT id FROM resources WHERE group_deleted = 0",
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(target)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Claims up to `limit` due jobs of one target (none while a 429 paused it), each for
    /// `lease_seconds`, Users first so Groups find their members' ids.
    pub async fn claim_due_target_jobs(
        &self,
        target: &str,
        now: UnixTime,
        lease_seconds: i64,
        limit: i64,
    ) -> StoreResult<Vec<Job>> {
        let candidates = sqlx::query(
            "SELECT id FROM jobs WHERE target = $1 AND status = 'pending' AND next_attempt_at <= $2 \
             AND (locked_until IS NULL OR locked_until < $2) \
             AND NOT EXISTS (SELECT 1 FROM scim_targets t WHERE t.name = $1 AND t.paused_until > $2) \
             ORDER BY CASE WHEN kind = 'scim_user' THEN 0 ELSE 1 END, next_attempt_at, created_at LIMIT ($3 + 0)",
        )
        .bind(target)
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::new();
        for candidate in candidates {
            let id: String = candidate.try_get("id")?;
            // Another instance may have taken it meanwhile; it is then simply not ours.
            claimed.extend(self.claim_job(&id, now, lease_seconds).await?);
        }
        Ok(claimed)
    }

    /// Takes the next request slot of the target's pacing, shared by every instance:
    /// returns when (wall-clock milliseconds) the request may go.
    pub async fn reserve_scim_slot(
        &self,
        target: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> StoreResult<i64> {
        let row = sqlx::query(
            "UPDATE scim_targets SET next_slot_ms = \
             (CASE WHEN next_slot_ms > $1 THEN next_slot_ms ELSE $1 END) + $2 \
             WHERE name = $3 RETURNING next_slot_ms",
        )
        .bind(now_ms)
        .bind(interval_ms)
        .bind(target)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => row.try_get::<i64, _>("next_slot_ms")? - interval_ms,
            None => now_ms,
        })
    }

    /// Holds every job of the target until `until` (the target's Retry-After).
    pub async fn pause_scim_target(&self, target: &str, until: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE scim_targets SET paused_until = $1 WHERE name = $2 AND paused_until < $1",
        )
        .bind(until)
        .bind(target)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records the digest of the target's drift report; true when it differs from the
    /// last one recorded (so admins hear of each change of the report once).
    pub async fn record_scim_report(
        &self,
        target: &str,
        digest: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(
            "UPDATE scim_targets SET report_digest = $1, reported_at = $2 \
             WHERE name = $3 AND (report_digest IS NULL OR report_digest <> $1)",
        )
        .bind(digest)
        .bind(now)
        .bind(target)
        .execute(self.pool())
        .await?;
        Ok(changed.rows_affected() > 0)
    }

    /// Due, waiting and failed jobs of a target: (pending, failed).
    pub async fn scim_job_counts(&self, target: &str) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(CASE WHEN status = 'pending' THEN 1 END) AS pending, \
             COUNT(CASE WHEN status = 'failed' THEN 1 END) AS failed \
             FROM jobs WHERE target = $1",
        )
        .bind(target)
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get("pending")?, row.try_get("failed")?))
    }
}

impl Store {
    /// Queues SCIM jobs for one target (a drift repair), with its audit event, in one
    /// transaction.
    pub async fn queue_scim_work(
        &self,
        target: &str,
        jobs: &[(JobKind, String)],
        event: super::audit::AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let mut work = self.begin(now).await?;
        for (kind, subject_id) in jobs {
            super::jobs::enqueue(work.conn(), target, *kind, subject_id, now).await?;
        }
        work.commit_unqueued(None, event).await
    }
}

impl Store {
    /// Queues the target's Group jobs for every organisation the person belongs to and
    /// every resource of those organisations (a User just made there can now be listed).
    pub async fn queue_scim_groups_of(
        &self,
        target: &str,
        person_id: &str,
        now: UnixTime,
    ) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        let rows = sqlx::query(
            "SELECT organisation_id AS id FROM memberships WHERE person_id = $1 \
             UNION SELECT r.id FROM resources r JOIN memberships m ON m.organisation_id = r.organisation_id \
             WHERE m.person_id = $1 AND r.group_deleted = 0",
        )
        .bind(person_id)
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            super::jobs::enqueue(&mut tx, target, JobKind::ScimGroup, &id, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
