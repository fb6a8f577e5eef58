//! The unit of work: one transaction per change, which collects the directory jobs it
//! queues (with the groups of the resources such changes touch) and ends with its audit
//! event, refreshing the member-list keys of every person whose entry it queues. `commit`
//! takes the event, so a change cannot forget it; it returns a [`Receipt`] of the queued
//! work, which the caller must hand to `jobs::apply` so the person sees LDAP follow at once.

use sqlx::Row;

use super::audit::{self, AuditEvent};
use super::jobs::{self, JobKind};
use super::member_keys::MemberKeys;
use super::{Store, StoreResult};
use crate::domain::UnixTime;

pub(crate) struct UnitOfWork<'s> {
    tx: sqlx::Transaction<'s, sqlx::Any>,
    now: UnixTime,
    queued: Vec<(JobKind, String)>,
    /// People whose memberships changed: their SCIM Users' `active` and entitlements follow.
    members: Vec<String>,
    scim_targets: std::sync::Arc<Vec<super::ScimPush>>,
}

/// The directory work a committed change queued. Apply it (`jobs::apply`) so the change
/// reaches LDAP now; the outbox worker would get to it later anyway.
#[must_use = "hand the receipt to jobs::apply so the change reaches LDAP at once"]
#[derive(Debug, Default)]
pub struct Receipt {
    queued: Vec<(JobKind, String)>,
}

impl Receipt {
    /// The jobs to try, each once, in the order they were queued.
    pub fn into_jobs(self) -> Vec<(JobKind, String)> {
        distinct(self.queued)
    }

    /// Joins two receipts (a change made of several units).
    pub fn and(mut self, other: Receipt) -> Receipt {
        self.queued.extend(other.queued);
        self
    }
}

impl Store {
    /// Starts a change at time `now`.
    pub(crate) async fn begin(&self, now: UnixTime) -> StoreResult<UnitOfWork<'_>> {
        Ok(UnitOfWork {
            tx: self.write_transaction().await?,
            now,
            queued: Vec::new(),
            members: Vec::new(),
            scim_targets: self.scim_targets.clone(),
        })
    }
}

impl UnitOfWork<'_> {
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub(crate) fn now(&self) -> UnixTime {
        self.now
    }

    /// Queues directory work for `subject`; it is written with the commit (see `commit`).
    pub(crate) fn queue(&mut self, kind: JobKind, subject_id: &str) {
        self.queued.push((kind, subject_id.to_string()));
    }

    /// Queues the group of an organisation whose membership of `person_id` changed.
    pub(crate) fn queue_member(&mut self, organisation_id: &str, person_id: &str) {
        self.queue(JobKind::SyncGroup, organisation_id);
        self.members.push(person_id.to_string());
    }

    /// Writes the audit event (about `subject_id`) and the member-list keys of every
    /// person whose entry was queued, then commits everything at once.
    pub(crate) async fn commit(
        mut self,
        subject_id: Option<&str>,
        event: AuditEvent<'_>,
    ) -> StoreResult<Receipt> {
        let people: Vec<String> = self
            .queued
            .iter()
            .filter(|(kind, _)| *kind == JobKind::SyncAccount)
            .map(|(_, person_id)| person_id.clone())
            .collect();
        for person_id in &people {
            MemberKeys::refresh(&mut self.tx, person_id).await?;
        }
        let event = AuditEvent {
            subject_id: subject_id.or(event.subject_id),
            ..event
        };
        audit::insert(&mut self.tx, &event, self.now).await?;
        // Resources' groups follow their organisation's members and those people's accounts.
        let organisations: Vec<String> = self
            .queued
            .iter()
            .filter(|(kind, _)| *kind == JobKind::SyncGroup)
            .map(|(_, organisation_id)| organisation_id.clone())
            .collect();
        for resource_id in resources_following(&mut self.tx, &organisations, &people).await? {
            self.queued.push((JobKind::SyncResource, resource_id));
        }
        // Last, so the lock `jobs::enqueue` takes on a waiting job (which workers' claims
        // wait for) is held for as short a time as possible.
        let queued = distinct(self.queued);
        for (kind, subject_id) in &queued {
            jobs::enqueue(&mut self.tx, "", *kind, subject_id, self.now).await?;
        }
        let scim = scim_jobs(&queued, &people, &self.members);
        for target in self.scim_targets.iter() {
            for (kind, subject_id) in &scim {
                let wanted = match kind {
                    JobKind::ScimUser => target.users,
                    _ => target.groups,
                };
                if wanted {
                    jobs::enqueue(&mut self.tx, &target.name, *kind, subject_id, self.now).await?;
                }
            }
        }
        self.tx.commit().await?;
        Ok(Receipt { queued })
    }

    /// Commits rows that are one step of a larger change audited once at its end (an
    /// adoption run); refuses if directory work was queued.
    pub(crate) async fn commit_step(self) -> StoreResult<()> {
        if !self.queued.is_empty() {
            return Err(super::StoreError::Corrupt(
                "directory work queued by a step that does not apply it".into(),
            ));
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Commits a change that LDAP does not follow (a description, a role grant, an
    /// invitation); refuses if directory work was queued, which would then be lost.
    pub(crate) async fn commit_unqueued(
        self,
        subject_id: Option<&str>,
        event: AuditEvent<'_>,
    ) -> StoreResult<()> {
        if !self.queued.is_empty() {
            return Err(super::StoreError::Corrupt(
                "directory work queued by a change that does not apply it".into(),
            ));
        }
        let _empty = self.commit(subject_id, event).await?;
        Ok(())
    }
}

/// The SCIM work that follows the directory work a change queued: each account whose
/// entry or memberships changed is a User, each organisation's or resource's group a Group.
fn scim_jobs(
    queued: &[(JobKind, String)],
    people: &[String],
    members: &[String],
) -> Vec<(JobKind, String)> {
    let users = people
        .iter()
        .chain(members)
        .map(|person_id| (JobKind::ScimUser, person_id.clone()));
    let groups = queued
        .iter()
        .filter(|(kind, _)| matches!(kind, JobKind::SyncGroup | JobKind::SyncResource))
        .map(|(_, id)| (JobKind::ScimGroup, id.clone()));
    distinct(users.chain(groups).collect())
}

/// The jobs once each, in the order first queued.
fn distinct(jobs: Vec<(JobKind, String)>) -> Vec<(JobKind, String)> {
    let mut once = Vec::new();
    for job in jobs {
        if !once.contains(&job) {
            once.push(job);
        }
    }
    once
}

/// The resources whose groups follow a change to these organisations' members or to these
/// people's accounts: every resource of the organisations, and of the people's
/// organisations. Used by the unit of work, so no change can forget them.
async fn resources_following(
    conn: &mut sqlx::AnyConnection,
    organisation_ids: &[String],
    person_ids: &[String],
) -> StoreResult<Vec<String>> {
    let mut found = Vec::new();
    for organisation_id in organisation_ids {
        let rows = sqlx::query("SELECT id FROM resources WHERE organisation_id = $1")
            .bind(organisation_id)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            found.push(row.try_get("id")?);
        }
    }
    for person_id in person_ids {
        let rows = sqlx::query(
            "SELECT r.id FROM resources r JOIN memberships m ON m.organisation_id = r.organisation_id \
             WHERE m.person_id = $1",
        )
        .bind(person_id)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            found.push(row.try_get("id")?);
        }
    }
    Ok(found)
}
