//! Batch changes to an organisation's members (the API's versioned PATCH): every item in
//! one transaction, guarded by the member list's version, with one audit event per item
//! and one group-sync job for the lot.

use std::collections::HashMap;

// Dynamic SQL here is assembled only from constant column lists and placeholders.
use sqlx::{AssertSqlSafe, Row};

use super::audit::{self, AuditEvent};
use super::jobs::JobKind;
use super::member_keys::MemberKeys;
use super::memberships::{AddMemberError, DirectoryPersonRef, adjust_member_count, insert};
use super::people::Person;
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult};
use crate::domain::{Role, UnixTime};

/// Placeholders per `IN (…)` list; well under both backends' limits.
const IN_CHUNK: usize = 500;

/// One member as the batch sees them before it changes anything.
#[derive(Debug, Clone)]
pub struct CurrentMembership {
    pub membership_id: String,
    pub role: Role,
    pub ends_on: Option<String>,
}

pub enum BatchOp<'a> {
    /// Links a directory person who has no portal account yet, then adds them.
    LinkAndAdd {
        person: DirectoryPersonRef<'a>,
        role: Role,
        ends_on: Option<String>,
    },
    Add {
        person_id: &'a str,
        role: Role,
        ends_on: Option<String>,
    },
    Update {
        membership_id: &'a str,
        role: Role,
        ends_on: Option<String>,
    },
    Remove {
        membership_id: &'a str,
    },
}

pub struct BatchStep<'a> {
    pub op: BatchOp<'a>,
    pub event: AuditEvent<'a>,
}

pub struct AppliedBatch {
    /// The member list's version after the change.
    pub version: i64,
    /// The person each step concerned, in step order (new ids for linked people).
    pub person_ids: Vec<Option<String>>,
    pub receipt: Receipt,
}

impl Store {
    /// People with these normalised emails or usernames (either list may be empty).
    pub async fn people_with(
        &self,
        emails: &[&str],
        usernames: &[&str],
    ) -> StoreResult<Vec<Person>> {
        let mut found = Vec::new();
        for (column, values) in [("email_normalized", emails), ("username", usernames)] {
            for chunk in values.chunks(IN_CHUNK) {
                let placeholders: Vec<String> =
                    (1..=chunk.len()).map(|n| format!("${n}")).collect();
                let sql = format!(
                    "SELECT {} FROM people WHERE {column} IN ({})",
                    super::people::COLUMNS,
                    placeholders.join(", ")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for value in chunk {
                    query = query.bind(*value);
                }
                for row in query.fetch_all(self.pool()).await? {
                    found.push(super::people::from_row(&row)?);
                }
            }
        }
        Ok(found)
    }

    /// Every membership of the organisation, by person id.
    pub async fn memberships_by_person(
        &self,
        organisation_id: &str,
    ) -> StoreResult<HashMap<String, CurrentMembership>> {
        let rows = sqlx::query(
            "SELECT id, person_id, role, ends_on FROM memberships WHERE organisation_id = $1",
        )
        .bind(organisation_id)
        .fetch_all(self.pool())
        .await?;
        let mut held = HashMap::with_capacity(rows.len());
        for row in rows {
            let role: String = row.try_get("role")?;
            held.insert(
                row.try_get("person_id")?,
                CurrentMembership {
                    membership_id: row.try_get("id")?,
                    ends_on: row.try_get("ends_on")?,
                    role: Role::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                },
            );
        }
        Ok(held)
    }

    /// Applies every step if the member list is still at `expected_version`; `None` when
    /// it is not (nothing was written).
    pub async fn apply_member_batch(
        &self,
        organisation_id: &str,
        expected_version: i64,
        steps: Vec<BatchStep<'_>>,
        summary: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<Option<AppliedBatch>, AddMemberError> {
        let mut work = self.begin(now).await?;
        // First, so the version check also takes the lock that serialises batches.
        let claimed = sqlx::query(
            "UPDATE organisations SET members_version = members_version + 1 \
             WHERE id = $1 AND members_version = $2",
        )
        .bind(organisation_id)
        .bind(expected_version)
        .execute(work.conn())
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let mut person_ids = Vec::with_capacity(steps.len());
        for step in &steps {
            let person_id = match &step.op {
                BatchOp::LinkAndAdd {
                    person,
                    role,
                    ends_on,
                } => {
                    let person_id =
                        super::memberships::link_directory_person(work.conn(), person, now).await?;
                    add_member(
                        work.conn(),
                        organisation_id,
                        &person_id,
                        *role,
                        ends_on,
                        now,
                    )
                    .await?;
                    Some(person_id)
                }
                BatchOp::Add {
                    person_id,
                    role,
                    ends_on,
                } => {
                    add_member(work.conn(), organisation_id, person_id, *role, ends_on, now)
                        .await?;
                    Some((*person_id).to_string())
                }
                BatchOp::Update {
                    membership_id,
                    role,
                    ends_on,
                } => {
                    let updated = sqlx::query(
                        "UPDATE memberships SET role = $1, ends_on = $2, version = version + 1, \
                         updated_at = $3 WHERE organisation_id = $4 AND id = $5 RETURNING person_id",
                    )
                    .bind(role.as_str())
                    .bind(ends_on.as_deref())
                    .bind(now)
                    .bind(organisation_id)
                    .bind(*membership_id)
                    .fetch_optional(work.conn())
                    .await?;
                    let Some(updated) = updated else {
                        return Ok(None);
                    };
                    let member: String = updated.try_get("person_id").map_err(StoreError::from)?;
                    work.queue_member(organisation_id, &member);
                    None
                }
                BatchOp::Remove { membership_id } => {
                    let removed = sqlx::query(
                        "DELETE FROM memberships WHERE organisation_id = $1 AND id = $2 \
                         RETURNING person_id",
                    )
                    .bind(organisation_id)
                    .bind(*membership_id)
                    .fetch_optional(work.conn())
                    .await?;
                    let Some(removed) = removed else {
                        return Ok(None);
                    };
                    let member: String = removed.try_get("person_id").map_err(StoreError::from)?;
                    work.queue_member(organisation_id, &member);
                    adjust_member_count(work.conn(), organisation_id, -1).await?;
                    None
                }
            };
            let event = AuditEvent {
                organisation_id: Some(organisation_id),
                subject_id: step.event.subject_id.or(person_id.as_deref()),
                ..step.event.clone()
            };
            audit::insert(work.conn(), &event, now).await?;
            if let Some(person_id) = &person_id {
                work.queue_member(organisation_id, person_id);
            }
            person_ids.push(person_id);
        }
        let row = sqlx::query("SELECT members_version FROM organisations WHERE id = $1")
            .bind(organisation_id)
            .fetch_one(work.conn())
            .await?;
        let version: i64 = row.try_get("members_version")?;
        work.queue(JobKind::SyncGroup, organisation_id);
        let receipt = work
            .commit(
                None,
                AuditEvent {
                    organisation_id: Some(organisation_id),
                    ..summary
                },
            )
            .await?;
        Ok(Some(AppliedBatch {
            version,
            person_ids,
            receipt,
        }))
    }
}

pub(crate) async fn add_member(
    conn: &mut sqlx::AnyConnection,
    organisation_id: &str,
    person_id: &str,
    role: Role,
    ends_on: &Option<String>,
    now: UnixTime,
) -> Result<(), AddMemberError> {
    let keys = MemberKeys::for_person(conn, person_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("person {person_id} vanished")))?;
    match insert(
        conn,
        organisation_id,
        person_id,
        &keys,
        role,
        ends_on.as_deref(),
        now,
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(AddMemberError::AlreadyMember),
        Err(other) => Err(other.into()),
    }
}
