//! The SCIM workers: one loop per target, beside the directory worker. A job names a
//! person (a User) or an organisation or resource (a Group) and makes the target's object
//! match the database now, so jobs are idempotent and may run in any order. Jobs are
//! claimed with a lease, several at a time when the target takes Bulk requests; every
//! request waits for the target's shared pacing. A 429 pauses the whole target for its
//! `Retry-After`; unreachable targets, timeouts and 5xx back off; other 4xx fail the job
//! with the target's `detail`, shown on the outbox page.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::context::AppContext;
use crate::scim::{
    BulkOutcome, BulkWrite, Endpoint, GroupState, ScimError, ScimTarget, UserState, group_body,
    group_patch, user_body,
};
use crate::store::StoreError;
use crate::store::jobs::{Job, JobKind};
use crate::store::scim::{ScimKind, ScimUserFacts};

/// Idle poll interval; a stored change wakes the workers at once through `scim_signal`.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long a 429 without `Retry-After` pauses the target.
const DEFAULT_RETRY_AFTER: i64 = 60;

/// Starts one worker per target; each first queues everything for a target it has never
/// seen (a target added to a running site).
pub fn spawn_scim_workers(ctx: AppContext) -> Vec<tokio::task::JoinHandle<()>> {
    (0..ctx.scim.len())
        .map(|index| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let Some(target) = ctx.scim.get(index) else {
                    return;
                };
                seed(&ctx, target).await;
                loop {
                    while !ctx.stopping.is_cancelled() && run_batch(&ctx, target).await > 0 {}
                    if !super::idle(&ctx, &ctx.scim_signal, POLL_INTERVAL).await {
                        return;
                    }
                }
            })
        })
        .collect()
}

/// Queues every User and Group for a target no instance has pushed to yet.
async fn seed(ctx: &AppContext, target: &ScimTarget) {
    let settings = &target.settings;
    match ctx
        .store
        .seed_scim_target(
            &settings.name,
            settings.users,
            settings.groups,
            ctx.clock.now(),
        )
        .await
    {
        Ok(true) => {
            tracing::info!(target = %settings.name, "new SCIM target: everything queued for it")
        }
        Ok(false) => {}
        Err(error) => {
            tracing::warn!(%error, target = %settings.name, "could not queue the first push of a SCIM target")
        }
    }
}

/// Runs everything due for every target (the command line's `outbox run`, and tests);
/// returns how many jobs ran.
pub async fn run_all_due(ctx: &AppContext) -> usize {
    let mut ran = 0;
    for target in ctx.scim.iter() {
        ran += run_target_due(ctx, target).await;
    }
    ran
}

/// Runs everything due for one target; returns how many jobs ran.
pub async fn run_target_due(ctx: &AppContext, target: &ScimTarget) -> usize {
    seed(ctx, target).await;
    let mut ran = 0;
    loop {
        match run_batch(ctx, target).await {
            0 => return ran,
            batch => ran += batch,
        }
    }
}

/// Claims due jobs of the target (a Bulk request's worth, or one) and runs them; returns
/// how many (0 when none was due).
async fn run_batch(ctx: &AppContext, target: &ScimTarget) -> usize {
    let mut jobs = claim(ctx, target, 1).await;
    let Some(first) = jobs.first() else {
        return 0;
    };
    // Only now, with a User to push, is the target asked whether it takes Bulk: a paused
    // or unreachable target is not asked at every poll.
    let bulk = match first.kind {
        JobKind::ScimUser => target.bulk_operations().await.unwrap_or(None),
        _ => None,
    };
    if let Some(most) = bulk {
        jobs.extend(claim(ctx, target, most - 1).await);
    }
    let heartbeat = super::renew_leases(ctx, jobs.iter().map(|job| job.id.clone()).collect());
    let users: Vec<&Job> = jobs
        .iter()
        .filter(|job| job.kind == JobKind::ScimUser)
        .collect();
    let mut single: Vec<&Job> = jobs
        .iter()
        .filter(|job| job.kind != JobKind::ScimUser)
        .collect();
    if bulk.is_some() && users.len() > 1 {
        single.extend(push_users_in_bulk(ctx, target, &users).await);
    } else {
        single.extend(users);
    }
    for job in single {
        let outcome = match job.kind {
            JobKind::ScimUser => sync_user(ctx, target, &job.subject_id).await.map(|_| ()),
            _ => sync_group(ctx, target, &job.subject_id).await,
        };
        record(ctx, target, job, outcome).await;
    }
    heartbeat.abort();
    jobs.len()
}

async fn claim(ctx: &AppContext, target: &ScimTarget, limit: usize) -> Vec<Job> {
    let limit = i64::try_from(limit).unwrap_or(1);
    match ctx
        .store
        .claim_due_target_jobs(target.name(), ctx.clock.now(), super::LEASE_SECONDS, limit)
        .await
    {
        Ok(jobs) => jobs,
        Err(error) => {
            tracing::warn!(%error, target = target.name(), "could not claim SCIM jobs");
            Vec::new()
        }
    }
}

/// Why a SCIM job did not apply.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// The target holds an object this job may not take over.
    #[error("{0}")]
    Clash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn pause(ctx: &AppContext, target: &ScimTarget, retry_after: Option<u64>) -> i64 {
    let seconds = retry_after
        .and_then(|seconds| i64::try_from(seconds).ok())
        .unwrap_or(DEFAULT_RETRY_AFTER)
        .clamp(1, 3600);
    let until = ctx.clock.now() + seconds;
    if let Err(error) = ctx.store.pause_scim_target(target.name(), until).await {
        tracing::warn!(%error, target = target.name(), "could not pause a SCIM target");
    }
    until
}

async fn record(ctx: &AppContext, target: &ScimTarget, job: &Job, outcome: Result<(), PushError>) {
    let now = ctx.clock.now();
    let name = target.name();
    let stored = match outcome {
        Ok(()) => ctx.store.complete_job(&job.id, now).await,
        Err(PushError::Scim(ScimError::RateLimited { retry_after })) => {
            let until = pause(ctx, target, retry_after).await;
            tracing::warn!(target = name, job = %job.id, until, "SCIM target is rate limiting; paused");
            ctx.store
                .retry_job_later(
                    &job.id,
                    "the target answered 429 Too Many Requests",
                    until,
                    now,
                )
                .await
        }
        Err(error @ (PushError::Scim(ScimError::Refused { .. }) | PushError::Clash(_))) => {
            tracing::error!(target = name, job = %job.id, %error, "SCIM job failed for good; fix it, then retry from the outbox page");
            ctx.store.fail_job(&job.id, &error.to_string(), now).await
        }
        Err(error) => {
            let retry_in = super::backoff_seconds(job.attempts);
            if matches!(error, PushError::Scim(ScimError::Unavailable(_))) {
                // The target itself is down or hanging: every job would wait out the same
                // timeout, so the whole target backs off, not just this job.
                let until = pause(ctx, target, Some(retry_in.unsigned_abs())).await;
                tracing::warn!(target = name, until, "SCIM target unavailable; backing off");
            }
            tracing::warn!(target = name, job = %job.id, attempts = job.attempts, retry_in, %error, "SCIM job failed; will retry");
            ctx.store
                .retry_job_later(&job.id, &error.to_string(), now + retry_in, now)
                .await
        }
    };
    if let Err(error) = stored {
        tracing::error!(job = %job.id, %error, "could not record a SCIM job's outcome; its lease will expire and it will run again");
    }
}

/// The User a target must hold for these facts.
pub fn expected_user(target: &ScimTarget, facts: &ScimUserFacts) -> UserState {
    UserState {
        external_id: facts.person_id.clone(),
        user_name: facts.username.clone(),
        given_name: facts.given_name.clone(),
        family_name: facts.surname.clone(),
        email: facts.email.clone(),
        active: facts.active,
        entitlements: target
            .settings
            .permissions
            .then(|| facts.entitlements.clone()),
    }
}

/// Makes the target's User for this person match the portal: created, replaced, or
/// deleted when the portal has none. Returns the User's id at the target.
pub async fn sync_user(
    ctx: &AppContext,
    target: &ScimTarget,
    person_id: &str,
) -> Result<Option<String>, PushError> {
    let name = target.name();
    let known = ctx
        .store
        .scim_remote_id(name, ScimKind::User, person_id)
        .await?;
    let Some(facts) = ctx
        .store
        .scim_user_facts(person_id, &ctx.clock.today_iso())
        .await?
    else {
        remove(ctx, target, Endpoint::Users, person_id, known).await?;
        return Ok(None);
    };
    let body = user_body(&expected_user(target, &facts));
    if let Some(id) = known {
        if let Some(replaced) = target.client.replace(Endpoint::Users, &id, &body).await? {
            return Ok(Some(replaced.id));
        }
        // Deleted at the target meanwhile: made again below.
        ctx.store
            .forget_scim_remote_id(name, ScimKind::User, person_id)
            .await?;
    }
    let id = match target.client.create(Endpoint::Users, &body).await {
        Ok(created) => created.id,
        Err(ScimError::Conflict(_)) => {
            let id = adopt(
                target,
                Endpoint::Users,
                "userName",
                &facts.username,
                person_id,
            )
            .await?;
            target.client.replace(Endpoint::Users, &id, &body).await?;
            id
        }
        Err(other) => return Err(other.into()),
    };
    new_user(ctx, target, person_id, &id).await?;
    Ok(Some(id))
}

/// Records a User the target just made (or that was adopted), and queues the person's
/// Groups, which could not list them before.
async fn new_user(
    ctx: &AppContext,
    target: &ScimTarget,
    person_id: &str,
    remote_id: &str,
) -> Result<(), StoreError> {
    let now = ctx.clock.now();
    ctx.store
        .set_scim_remote_id(target.name(), ScimKind::User, person_id, remote_id, now)
        .await?;
    if target.settings.groups {
        ctx.store
            .queue_scim_groups_of(target.name(), person_id, now)
            .await?;
    }
    Ok(())
}

/// After a 409: the existing object with this name, if it is free to take over (no
/// `externalId`, or this one).
async fn adopt(
    target: &ScimTarget,
    endpoint: Endpoint,
    attribute: &str,
    value: &str,
    local_id: &str,
) -> Result<String, PushError> {
    let found = target.client.find(endpoint, attribute, value).await?;
    let mut others = Vec::new();
    for object in found {
        match object.external_id() {
            None => return Ok(object.id),
            Some(external) if external == local_id => return Ok(object.id),
            Some(external) => others.push(external.to_string()),
        }
    }
    Err(PushError::Clash(if others.is_empty() {
        format!("the target answered 409 for {attribute} \"{value}\" but has no such object")
    } else {
        format!(
            "the target already has {attribute} \"{value}\" with externalId {}; it is not this portal's, so it was left alone",
            others.join(", ")
        )
    }))
}

/// Removes the target's object for a portal id that should have none: the one pushed,
/// and any other tagged with that id.
async fn remove(
    ctx: &AppContext,
    target: &ScimTarget,
    endpoint: Endpoint,
    local_id: &str,
    known: Option<String>,
) -> Result<(), PushError> {
    let kind = match endpoint {
        Endpoint::Users => ScimKind::User,
        Endpoint::Groups => ScimKind::Group,
    };
    if let Some(id) = &known {
        target.client.delete(endpoint, id).await?;
    }
    for object in target.client.find(endpoint, "externalId", local_id).await? {
        if object.external_id() == Some(local_id) && Some(&object.id) != known.as_ref() {
            target.client.delete(endpoint, &object.id).await?;
        }
    }
    ctx.store
        .forget_scim_remote_id(target.name(), kind, local_id)
        .await?;
    Ok(())
}

/// Makes the target's Group for this organisation or resource match the portal: its
/// name by PATCH, and its members by PATCH operations that add and remove only the
/// difference, never a full replace.
pub async fn sync_group(
    ctx: &AppContext,
    target: &ScimTarget,
    local_id: &str,
) -> Result<(), PushError> {
    let name = target.name();
    let known = ctx
        .store
        .scim_remote_id(name, ScimKind::Group, local_id)
        .await?;
    let Some(facts) = ctx
        .store
        .scim_group_facts(local_id, &ctx.clock.today_iso())
        .await?
    else {
        return remove(ctx, target, Endpoint::Groups, local_id, known).await;
    };
    let group = GroupState {
        external_id: facts.id.clone(),
        display_name: facts.display_name.clone(),
        members: member_ids(ctx, target, &facts.member_usernames).await?,
    };
    if let Some(id) = &known {
        if let Some(remote) = target.client.get(Endpoint::Groups, id).await? {
            let operations = group_patch(&group, &remote);
            if operations.is_empty()
                || target
                    .client
                    .patch(Endpoint::Groups, id, &operations)
                    .await?
            {
                return Ok(());
            }
        }
        ctx.store
            .forget_scim_remote_id(name, ScimKind::Group, local_id)
            .await?;
    }
    let id = match target
        .client
        .create(Endpoint::Groups, &group_body(&group))
        .await
    {
        Ok(created) => created.id,
        Err(ScimError::Conflict(_)) => {
            let id = adopt(
                target,
                Endpoint::Groups,
                "displayName",
                &group.display_name,
                local_id,
            )
            .await?;
            if let Some(remote) = target.client.get(Endpoint::Groups, &id).await? {
                target
                    .client
                    .patch(Endpoint::Groups, &id, &group_patch(&group, &remote))
                    .await?;
            }
            id
        }
        Err(other) => return Err(other.into()),
    };
    ctx.store
        .set_scim_remote_id(name, ScimKind::Group, local_id, &id, ctx.clock.now())
        .await?;
    Ok(())
}

/// The target's User ids of these members: those pushed already, and the others pushed
/// now (or, for a target not sent Users, found by userName).
async fn member_ids(
    ctx: &AppContext,
    target: &ScimTarget,
    usernames: &[String],
) -> Result<BTreeSet<String>, PushError> {
    let mut ids = BTreeSet::new();
    for (username, person_id, remote_id) in ctx
        .store
        .scim_users_by_username(target.name(), usernames)
        .await?
    {
        let id = match remote_id {
            Some(id) => Some(id),
            None if target.settings.users => match sync_user(ctx, target, &person_id).await {
                Ok(id) => id,
                // That User's own job fails visibly; the group is written without it,
                // and written again once the User exists (see `sync_user`).
                Err(PushError::Clash(error)) => {
                    tracing::warn!(target = target.name(), %username, %error, "group member left out: no User");
                    None
                }
                Err(PushError::Scim(error @ ScimError::Refused { .. })) => {
                    tracing::warn!(target = target.name(), %username, %error, "group member left out: no User");
                    None
                }
                Err(other) => return Err(other),
            },
            None => {
                let found = target
                    .client
                    .find(Endpoint::Users, "userName", &username)
                    .await?;
                match found.into_iter().next() {
                    Some(user) => {
                        ctx.store
                            .set_scim_remote_id(
                                target.name(),
                                ScimKind::User,
                                &person_id,
                                &user.id,
                                ctx.clock.now(),
                            )
                            .await?;
                        Some(user.id)
                    }
                    None => None,
                }
            }
        };
        ids.extend(id);
    }
    Ok(ids)
}

/// Pushes several Users in Bulk requests (RFC 7644 §3.7): a replace for those the target
/// has, a create for the others. Returns the jobs to run one by one instead: removals,
/// and creates the target answered 409 to (adopted one at a time).
async fn push_users_in_bulk<'j>(
    ctx: &AppContext,
    target: &ScimTarget,
    jobs: &[&'j Job],
) -> Vec<&'j Job> {
    let name = target.name();
    let today = ctx.clock.today_iso();
    let mut single = Vec::new();
    let mut writes = Vec::new();
    let mut written: Vec<&Job> = Vec::new();
    for job in jobs {
        let facts = ctx.store.scim_user_facts(&job.subject_id, &today).await;
        let known = ctx
            .store
            .scim_remote_id(name, ScimKind::User, &job.subject_id)
            .await;
        match (facts, known) {
            (Ok(Some(facts)), Ok(known)) => {
                let body = user_body(&expected_user(target, &facts));
                writes.push(match known {
                    Some(id) => BulkWrite::Replace { id, body },
                    None => BulkWrite::Create {
                        external_id: job.subject_id.clone(),
                        body,
                    },
                });
                written.push(job);
            }
            (Ok(None), Ok(_)) => single.push(*job),
            (Err(error), _) | (_, Err(error)) => {
                record(ctx, target, job, Err(PushError::Store(error))).await;
            }
        }
    }
    if writes.is_empty() {
        return single;
    }
    let outcomes = match target.client.bulk(Endpoint::Users, &writes).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            for job in written {
                record(ctx, target, job, Err(PushError::Scim(error.clone()))).await;
            }
            return single;
        }
    };
    for ((job, write), outcome) in written.into_iter().zip(&writes).zip(outcomes) {
        match outcome {
            BulkOutcome::Done(id) => {
                let stored = match write {
                    BulkWrite::Create { .. } => new_user(ctx, target, &job.subject_id, &id).await,
                    BulkWrite::Replace { .. } => Ok(()),
                };
                record(ctx, target, job, stored.map_err(PushError::Store)).await;
            }
            // Taken by name, or replaced while it was deleted there: one at a time.
            BulkOutcome::Failed(ScimError::Conflict(_))
            | BulkOutcome::Failed(ScimError::Refused { status: 404, .. }) => {
                if matches!(write, BulkWrite::Replace { .. }) {
                    let forgotten = ctx
                        .store
                        .forget_scim_remote_id(name, ScimKind::User, &job.subject_id)
                        .await;
                    if let Err(error) = forgotten {
                        tracing::warn!(%error, "could not forget a SCIM id");
                    }
                }
                single.push(job);
            }
            BulkOutcome::Failed(error) => {
                record(ctx, target, job, Err(PushError::Scim(error))).await
            }
        }
    }
    single
}
