//! Background work each instance runs beside the web server: the outbox worker that
//! applies directory changes (with retries and backoff), and housekeeping. Every job is
//! safe to run on several instances at once: jobs are claimed with a lease, and applying
//! one makes LDAP match the database, so a repeat changes nothing.

pub mod ldap_drift;
pub mod mail;
pub mod people_index;
pub mod scim;
pub mod scim_drift;

use std::time::Duration;

use crate::context::AppContext;
use crate::directory::{AccountFacts, AccountState, GroupPlace, GroupState};
use crate::store::StoreError;
use crate::store::jobs::{Job, JobKind};
use crate::store::people::{AccountStatus, Person};

const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);
/// How long a claim lasts without renewal: an instance that dies mid-job holds its jobs at
/// most this long. A running job renews it every `HEARTBEAT` (see `run`).
pub const LEASE_SECONDS: i64 = 15;
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a change waits for another worker already applying the same job.
const IN_PROGRESS_WAIT: Duration = Duration::from_secs(3);
/// Resource groups a change writes itself before it leaves them to the worker.
const INLINE_RESOURCE_GROUPS: usize = 5;
/// Idle poll interval; a stored change wakes the worker at once through `job_signal`.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Starts the periodic housekeeping task; it stops when the runtime does.
pub fn spawn_housekeeping(ctx: AppContext) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        loop {
            ticker.tick().await;
            housekeeping(&ctx).await;
        }
    })
}

pub async fn housekeeping(ctx: &AppContext) {
    let now = ctx.clock.now();
    let idle_since = now - i64::from(ctx.settings.security.session_idle_minutes) * 60;
    match ctx.store.delete_expired_sessions(now, idle_since).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "expired sessions removed"),
        Err(error) => tracing::warn!(%error, "could not remove expired sessions"),
    }
    ctx.sign_in_limiter.forget_idle();
}

/// Starts the outbox worker; it finishes the job in hand and ends when the instance stops
/// (`AppContext::stopping`).
pub fn spawn_worker(ctx: AppContext) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            while !ctx.stopping.is_cancelled() && run_one_due(&ctx).await {}
            if !idle(&ctx, &ctx.job_signal, POLL_INTERVAL).await {
                return;
            }
        }
    })
}

/// A worker's wait for more work: until `signal`, `interval`, or the instance stopping
/// (then false, and the worker ends).
pub(crate) async fn idle(
    ctx: &AppContext,
    signal: &tokio::sync::Notify,
    interval: Duration,
) -> bool {
    tokio::select! {
        () = ctx.stopping.cancelled() => false,
        _ = tokio::time::timeout(interval, signal.notified()) => !ctx.stopping.is_cancelled(),
    }
}

/// Runs one due job, if any; true when one was run (whatever its outcome).
pub async fn run_one_due(ctx: &AppContext) -> bool {
    match ctx
        .store
        .claim_due_job(ctx.clock.now(), LEASE_SECONDS)
        .await
    {
        Ok(Some(job)) => {
            run(ctx, &job).await;
            true
        }
        Ok(None) => false,
        Err(error) => {
            tracing::warn!(%error, "could not claim a job");
            false
        }
    }
}

/// Tries at once the directory work a committed change queued, so the person who made it
/// sees the result; what fails stays queued for the worker.
pub async fn apply(ctx: &AppContext, receipt: crate::store::unit_of_work::Receipt) {
    // The change may have stored mail too, and work for SCIM targets; their workers carry
    // them out in the background.
    ctx.mail_signal.notify_one();
    ctx.scim_signal.notify_waiters();
    let jobs = receipt.into_jobs();
    // A membership change may touch every resource of the organisation (hundreds of
    // groups): past a few, the worker writes them, woken now, so the page does not wait.
    let resource_groups = jobs
        .iter()
        .filter(|(kind, _)| *kind == JobKind::SyncResource)
        .count();
    for (kind, subject_id) in jobs {
        if kind == JobKind::SyncResource && resource_groups > INLINE_RESOURCE_GROUPS {
            ctx.job_signal.notify_one();
            continue;
        }
        apply_now(ctx, kind, &subject_id).await;
    }
}

/// Tries the waiting work for `subject` right away, so the person who made the change
/// sees it applied; if LDAP is down it stays pending for the worker.
pub async fn apply_now(ctx: &AppContext, kind: JobKind, subject_id: &str) {
    match ctx
        .store
        .claim_job_for(kind, subject_id, ctx.clock.now(), LEASE_SECONDS)
        .await
    {
        Ok(Some(job)) => run(ctx, &job).await,
        // A worker took it first: wait briefly for its attempt, so the page that follows
        // shows the outcome either way.
        Ok(None) => wait_while_in_progress(ctx, kind, subject_id).await,
        Err(error) => tracing::warn!(%error, "could not claim a job"),
    }
    ctx.job_signal.notify_one();
}

async fn wait_while_in_progress(ctx: &AppContext, kind: JobKind, subject_id: &str) {
    let deadline = tokio::time::Instant::now() + IN_PROGRESS_WAIT;
    while tokio::time::Instant::now() < deadline {
        match ctx
            .store
            .job_in_progress(kind, subject_id, ctx.clock.now())
            .await
        {
            Ok(true) => tokio::time::sleep(Duration::from_millis(20)).await,
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%error, "could not read a job's state");
                return;
            }
        }
    }
}

/// Seconds before the next attempt: 5 s doubling to at most 2 minutes, so a directory
/// that comes back is noticed soon.
pub fn backoff_seconds(attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    (5 * 2_i64.pow(exponent)).min(120)
}

async fn run(ctx: &AppContext, job: &Job) {
    // Renew the claim while the job runs, so a slow LDAP never lets a second instance run
    // the same job, while a dead instance's claim ends within LEASE_SECONDS.
    let heartbeat = renew_leases(ctx, vec![job.id.clone()]);
    let outcome = match job.kind {
        JobKind::SyncGroup => sync_group(ctx, &job.subject_id).await,
        JobKind::SyncAccount => sync_account(ctx, &job.subject_id).await,
        JobKind::SyncResource => sync_resource(ctx, &job.subject_id).await,
        JobKind::DropResourceGroup => drop_resource_group(ctx, &job.subject_id).await,
        // Claimed only by the SCIM workers (`scim`), never by this one.
        JobKind::ScimUser | JobKind::ScimGroup => Err(JobError::Transient(
            "a SCIM job reached the directory worker".into(),
        )),
    };
    heartbeat.abort();
    let stored = match outcome {
        Ok(()) => {
            tracing::info!(job = %job.id, kind = job.kind.as_str(), "directory job applied");
            ctx.store.complete_job(&job.id, ctx.clock.now()).await
        }
        Err(JobError::Permanent(error)) => {
            tracing::error!(job = %job.id, kind = job.kind.as_str(), %error, "directory job failed for good: LDAP refuses the data; fix it, then retry from the outbox page");
            ctx.store.fail_job(&job.id, &error, ctx.clock.now()).await
        }
        Err(JobError::Transient(error)) => {
            let retry_in = backoff_seconds(job.attempts);
            tracing::warn!(job = %job.id, kind = job.kind.as_str(), attempts = job.attempts, retry_in, %error, "directory job failed; will retry");
            ctx.store
                .retry_job_later(&job.id, &error, ctx.clock.now() + retry_in, ctx.clock.now())
                .await
        }
    };
    if let Err(error) = stored {
        tracing::error!(job = %job.id, %error, "could not record a job's outcome; its lease will expire and it will run again");
    }
}

/// Renews the claims of running jobs every `HEARTBEAT` until the returned task is aborted.
fn renew_leases(ctx: &AppContext, ids: Vec<String>) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(HEARTBEAT);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let until = ctx.clock.now() + LEASE_SECONDS;
            for id in &ids {
                if let Err(error) = ctx.store.renew_job_lease(id, until).await {
                    tracing::warn!(%error, job = %id, "could not renew a job's lease");
                }
            }
        }
    })
}

/// Why a job did not apply: worth another attempt later, or never (until the data or the
/// directory is fixed by hand).
enum JobError {
    Transient(String),
    Permanent(String),
}

impl From<crate::store::StoreError> for JobError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Transient(error.to_string())
    }
}

impl From<crate::directory::DirectoryError> for JobError {
    fn from(error: crate::directory::DirectoryError) -> Self {
        if error.is_permanent() {
            Self::Permanent(error.to_string())
        } else {
            Self::Transient(error.to_string())
        }
    }
}

/// How many times one job writes a group that keeps changing before it lets the worker
/// try again later.
const GROUP_REWRITES: usize = 5;

/// Writes the group from the database's current members. Two instances may sync one group
/// at once (a job claimed just before a change, and the job that change queued), and the
/// older view must not be the last one written: so a sync whose group changed while it
/// wrote (its `members_version` moved) writes again.
async fn sync_group(ctx: &AppContext, organisation_id: &str) -> Result<(), JobError> {
    for _ in 0..GROUP_REWRITES {
        let Some(organisation) = ctx.store.organisation(organisation_id).await? else {
            return Ok(());
        };
        let member_uids = ctx
            .store
            .member_uids(organisation_id, &ctx.clock.today_iso())
            .await?;
        ctx.directory
            .sync_group(&GroupState {
                cn: organisation.short_name,
                gid_number: organisation.gid_number,
                member_uids,
                place: GroupPlace::Groups,
            })
            .await
            .map_err(JobError::from)?;
        let now = ctx.store.organisation(organisation_id).await?;
        if now.is_none_or(|now| now.members_version == organisation.members_version) {
            return Ok(());
        }
    }
    Err(JobError::Transient(
        "the group kept changing while it was written; trying again later".into(),
    ))
}

/// Writes a resource's group from who may use it now: empty once it is retired or past its
/// end date, but kept, so its gidNumber is never handed out again.
async fn sync_resource(ctx: &AppContext, resource_id: &str) -> Result<(), JobError> {
    let Some(resource) = ctx.store.resource(resource_id).await? else {
        return Ok(());
    };
    if resource.group_deleted {
        return Ok(());
    }
    let member_uids = ctx
        .store
        .resource_member_uids(resource_id, &ctx.clock.today_iso())
        .await?;
    ctx.directory
        .sync_group(&GroupState {
            cn: resource.group_name,
            gid_number: resource.gid_number,
            member_uids,
            place: GroupPlace::Resources,
        })
        .await
        .map_err(JobError::from)
}

/// Removes a group a resource no longer has, if it still carries the resource's gidNumber.
async fn drop_resource_group(ctx: &AppContext, group_name: &str) -> Result<(), JobError> {
    let Some(gid_number) = ctx.store.dropped_resource_group(group_name).await? else {
        return Ok(());
    };
    ctx.directory
        .delete_resource_group(group_name, gid_number)
        .await
        .map_err(JobError::from)
}

async fn sync_account(ctx: &AppContext, person_id: &str) -> Result<(), JobError> {
    let person = ctx.store.person_by_id(person_id).await?;
    let Some(person) = person else {
        return Ok(());
    };
    if person.status == AccountStatus::Deleted {
        let (Some(username), Some(uid_number), Some(gid_number)) =
            (person.username, person.uid_number, person.gid_number)
        else {
            return Ok(());
        };
        ctx.directory
            .delete_account(&username, uid_number, gid_number)
            .await
            .map_err(JobError::from)?;
        people_index::portal_deleted(ctx, &ctx.directory.person_dn(&username)).await;
        return Ok(());
    }
    let Some(state) = expected_account(ctx, &person).await? else {
        // An adopted entry: only its password is Roster's, once the person has one (a
        // lock removes it). Otherwise a linked entry the portal does not manage, or an
        // account not complete yet.
        if let (Some(uid_number), Some(dn)) = (person.adopted_uid_number, &person.ldap_dn) {
            let active = person.status == AccountStatus::Active;
            if !active || person.password_hash.is_some() {
                let hash = person.password_hash.as_deref().filter(|_| active);
                ctx.directory
                    .set_adopted_password(dn, uid_number, hash)
                    .await
                    .map_err(JobError::from)?;
            }
        }
        return Ok(());
    };
    ctx.directory
        .sync_account(&state)
        .await
        .map_err(JobError::from)?;
    // The people search reads the index: the portal's own write shows there at once.
    let entry = crate::store::people_index::IndexedPerson {
        dn: ctx.directory.person_dn(&state.username),
        uid: state.username.clone(),
        surname: state.surname.clone(),
        given_name: state.given_name.clone(),
        mail: Some(state.email.clone()),
        modified: String::new(),
    };
    people_index::portal_wrote(ctx, entry).await;
    Ok(())
}

/// What the person's LDAP entry must hold, from the portal's state; `None` for a person
/// whose entry the portal does not manage (a linked directory entry, or set-up not done).
/// The outbox writes with it and the staff account page compares LDAP with it.
pub async fn expected_account(
    ctx: &AppContext,
    person: &Person,
) -> Result<Option<AccountState>, StoreError> {
    if person.username.is_none() || person.uid_number.is_none() || person.gid_number.is_none() {
        return Ok(None);
    }
    let ssh_keys = if person.status == AccountStatus::Active {
        ctx.store
            .keys_of(&person.id)
            .await?
            .into_iter()
            .map(|key| key.openssh)
            .collect()
    } else {
        Vec::new()
    };
    Ok(account_state(ctx, person, ssh_keys))
}

/// `expected_account` with the person's keys (OpenSSH text, in order) already read, so
/// the drift report reads a page of people's keys in one query.
pub fn account_state(
    ctx: &AppContext,
    person: &Person,
    ssh_keys: Vec<String>,
) -> Option<AccountState> {
    let (Some(username), Some(uid_number), Some(gid_number)) = (
        person.username.clone(),
        person.uid_number,
        person.gid_number,
    ) else {
        return None;
    };
    let facts = AccountFacts {
        username,
        uid_number,
        gid_number,
        surname: person.surname.clone(),
        given_name: person.given_name.clone(),
        email: person.email.clone(),
        login_shell: person.login_shell.clone(),
        password_hash: person.password_hash.clone(),
        locked: person.status != AccountStatus::Active,
        ssh_keys,
    };
    Some(AccountState::expected(facts, &ctx.settings.ldap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let waits: Vec<i64> = (0..=8).map(backoff_seconds).collect();
        assert_eq!(waits, vec![5, 5, 10, 20, 40, 80, 120, 120, 120]);
    }
}
