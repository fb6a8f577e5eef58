//! What the site-wide LDAP drift report reads, a page of directory entries at a time: the
//! portal rows for a page of names, the names the portal expects in sorted batches, the
//! repair's queued jobs, and the last count the scheduled dry run reported.

use std::collections::HashMap;

// Dynamic SQL here is assembled only from constant column lists and placeholders.
use sqlx::{AssertSqlSafe, Row};

use super::audit::AuditEvent;
use super::jobs::JobKind;
use super::organisations::Organisation;
use super::people::Person;
use super::resources::Resource;
use super::{Store, StoreResult};
use crate::domain::UnixTime;

/// `$first, $first+1, …` for `count` bound values.
fn placeholders(first: usize, count: usize) -> String {
    (0..count)
        .map(|n| format!("${}", first + n))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The people (not deleted) whose usernames are among `usernames`.
    pub async fn people_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<Person>> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM people WHERE status <> 'deleted' AND username IN ({})",
            super::people::COLUMNS,
            placeholders(1, usernames.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for username in usernames {
            query = query.bind(username);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(super::people::from_row).collect()
    }

    /// The OpenSSH text of every key of these people, in each one's order.
    pub async fn keys_of_people(
        &self,
        person_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut keys: HashMap<String, Vec<String>> = HashMap::new();
        if person_ids.is_empty() {
            return Ok(keys);
        }
        let sql = format!(
            "SELECT person_id, openssh FROM ssh_keys WHERE person_id IN ({}) \
             ORDER BY person_id, created_at, id",
            placeholders(1, person_ids.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in person_ids {
            query = query.bind(id);
        }
        for row in query.fetch_all(self.pool()).await? {
            keys.entry(row.try_get("person_id")?)
                .or_default()
                .push(row.try_get("openssh")?);
        }
        Ok(keys)
    }

    /// The organisations whose short names are among `names`.
    pub async fn organisations_by_short_names(
        &self,
        names: &[String],
    ) -> StoreResult<Vec<Organisation>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM organisations o WHERE o.short_name IN ({})",
            super::organisations::COLUMNS,
            placeholders(1, names.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for name in names {
            query = query.bind(name);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(super::organisations::from_row).collect()
    }

    /// The resources whose group names are among `names`.
    pub async fn resources_by_group_names(&self, names: &[String]) -> StoreResult<Vec<Resource>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM resources r WHERE r.group_name IN ({})",
            super::resources::COLUMNS,
            placeholders(1, names.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for name in names {
            query = query.bind(name);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(super::resources::from_row).collect()
    }

    /// `member_uids` for several organisations at once: organisation id → usernames.
    pub async fn member_uids_of(
        &self,
        organisation_ids: &[String],
        today: &str,
    ) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        if organisation_ids.is_empty() {
            return Ok(members);
        }
        let sql = format!(
            "SELECT m.organisation_id, p.username FROM memberships m JOIN people p ON p.id = m.person_id \
             WHERE m.organisation_id IN ({}) AND p.username IS NOT NULL \
             AND (m.ends_on IS NULL OR m.ends_on >= $1) \
             AND (m.ended_for IS NULL OR m.ended_for <> m.ends_on) ORDER BY p.username",
            placeholders(2, organisation_ids.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(today);
        for id in organisation_ids {
            query = query.bind(id);
        }
        for row in query.fetch_all(self.pool()).await? {
            members
                .entry(row.try_get("organisation_id")?)
                .or_default()
                .push(row.try_get("username")?);
        }
        Ok(members)
    }

    /// `resource_member_uids` for several resources at once: resource id → usernames.
    pub async fn resource_member_uids_of(
        &self,
        resource_ids: &[String],
        today: &str,
    ) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        if resource_ids.is_empty() {
            return Ok(members);
        }
        // `may_use` reads the day from $2; $1 keeps to groups LDAP holds.
        let sql = format!(
            "SELECT DISTINCT r.id AS resource_id, p.username FROM resources r \
             JOIN memberships m ON m.organisation_id = r.organisation_id \
             JOIN people p ON p.id = m.person_id \
             WHERE r.group_deleted = $1 AND p.username IS NOT NULL AND {} AND r.id IN ({}) \
             ORDER BY p.username",
            super::resources::may_use(),
            placeholders(3, resource_ids.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(0_i64).bind(today);
        for id in resource_ids {
            query = query.bind(id);
        }
        for row in query.fetch_all(self.pool()).await? {
            members
                .entry(row.try_get("resource_id")?)
                .or_default()
                .push(row.try_get("username")?);
        }
        Ok(members)
    }

    /// The next `limit` accounts whose entries the portal writes (a username and numbers,
    /// not deleted), after `after` in username order: (person id, username).
    pub async fn managed_accounts_after(
        &self,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        self.names_after(
            "SELECT id, username AS name FROM people WHERE username > $1 \
             AND uid_number IS NOT NULL AND gid_number IS NOT NULL AND status <> 'deleted' \
             ORDER BY username LIMIT ($2 + 0)",
            after,
            limit,
        )
        .await
    }

    /// The next `limit` organisations after `after` by short name: (id, short name).
    pub async fn organisation_groups_after(
        &self,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        self.names_after(
            "SELECT id, short_name AS name FROM organisations WHERE short_name > $1 \
             ORDER BY short_name LIMIT ($2 + 0)",
            after,
            limit,
        )
        .await
    }

    /// The next `limit` resources whose group LDAP holds, after `after` by group name:
    /// (id, group name).
    pub async fn resource_groups_after(
        &self,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        self.names_after(
            "SELECT id, group_name AS name FROM resources WHERE group_name > $1 \
             AND group_deleted = 0 ORDER BY group_name LIMIT ($2 + 0)",
            after,
            limit,
        )
        .await
    }

    async fn names_after(
        &self,
        sql: &'static str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(sql)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("name")?)))
            .collect()
    }

    /// Queues the directory jobs of an LDAP drift repair with its one audit event: only
    /// the items' own jobs (not the groups a change would otherwise bring along), so a
    /// repair rewrites exactly what it names.
    pub async fn queue_drift_repair(
        &self,
        jobs: &[(JobKind, String)],
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let mut work = self.begin(now).await?;
        for (kind, subject_id) in jobs {
            super::jobs::enqueue(work.conn(), "", *kind, subject_id, now).await?;
        }
        work.commit_unqueued(None, event).await
    }

    /// Records the scheduled dry run's count; true when it differs from the last one
    /// recorded (or is the first), so only one instance mails about a change.
    pub async fn record_ldap_drift_count(&self, count: i64, now: UnixTime) -> StoreResult<bool> {
        let changed = sqlx::query(
            "INSERT INTO ldap_drift_state (id, item_count, reported_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET item_count = excluded.item_count, \
             reported_at = excluded.reported_at \
             WHERE ldap_drift_state.item_count <> excluded.item_count",
        )
        .bind(count)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(changed.rows_affected() > 0)
    }
}
