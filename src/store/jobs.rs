//! The outbox: directory work recorded in the same transaction as the change that needs
//! it, then applied by the worker (`crate::jobs`) with retries.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreResult, new_id};
use crate::domain::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Make an organisation's posixGroup match the portal (cn, gidNumber, memberUid).
    SyncGroup,
    /// Make a person's posixAccount entry and private group match the portal.
    SyncAccount,
    /// Make a resource's posixGroup hold exactly the people who may use it.
    SyncResource,
    /// Remove a resource group that must no longer exist (renamed by a move, or deleted
    /// by an admin); the subject is the group's name.
    DropResourceGroup,
    /// Make a SCIM target's User for this portal id match the portal (or remove it).
    ScimUser,
    /// Make a SCIM target's Group for this organisation or resource id match the portal.
    ScimGroup,
}

impl JobKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            JobKind::SyncGroup => "sync_group",
            JobKind::SyncAccount => "sync_account",
            JobKind::SyncResource => "sync_resource",
            JobKind::DropResourceGroup => "drop_resource_group",
            JobKind::ScimUser => "scim_user",
            JobKind::ScimGroup => "scim_group",
        }
    }
    fn parse(value: &str) -> Option<Self> {
        match value {
            "sync_group" => Some(JobKind::SyncGroup),
            "sync_account" => Some(JobKind::SyncAccount),
            "sync_resource" => Some(JobKind::SyncResource),
            "drop_resource_group" => Some(JobKind::DropResourceGroup),
            "scim_user" => Some(JobKind::ScimUser),
            "scim_group" => Some(JobKind::ScimGroup),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    /// '' for LDAP, else the SCIM target's name.
    pub target: String,
    pub kind: JobKind,
    pub subject_id: String,
    pub attempts: i64,
}

fn from_row(row: &AnyRow) -> StoreResult<Option<Job>> {
    let kind: String = row.try_get("kind")?;
    Ok(JobKind::parse(&kind).map(|kind| Job {
        id: row.try_get("id").unwrap_or_default(),
        target: row.try_get("target").unwrap_or_default(),
        kind,
        subject_id: row.try_get("subject_id").unwrap_or_default(),
        attempts: row.try_get("attempts").unwrap_or_default(),
    }))
}

/// Records that `subject` needs `kind` applied. An unclaimed job for the same subject
/// already waiting covers it (the worker reads the current state), but only if no worker
/// can read the state before this change commits: touching that job's row takes its lock,
/// so a worker's claim waits for this transaction, and a job claimed meanwhile no longer
/// matches, so a new one is queued. A change that commits after a job has read the state
/// therefore always leads to another run.
pub(crate) async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    target: &str,
    kind: JobKind,
    subject_id: &str,
    now: UnixTime,
) -> StoreResult<()> {
    let waiting = sqlx::query(
        "UPDATE jobs SET updated_at = $1 WHERE target = $4 AND kind = $2 AND subject_id = $3 \
         AND status = 'pending' AND locked_until IS NULL",
    )
    .bind(now)
    .bind(kind.as_str())
    .bind(subject_id)
    .bind(target)
    .execute(&mut *conn)
    .await?;
    if waiting.rows_affected() > 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO jobs (id, target, kind, subject_id, status, attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $5, $2, $3, 'pending', 0, $4, $4, $4)",
    )
    .bind(new_id())
    .bind(kind.as_str())
    .bind(subject_id)
    .bind(now)
    .bind(target)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Claims one due job for `lease_seconds`; another instance cannot take it meanwhile.
    pub async fn claim_due_job(
        &self,
        now: UnixTime,
        lease_seconds: i64,
    ) -> StoreResult<Option<Job>> {
        let candidate = sqlx::query(
            "SELECT id FROM jobs WHERE target = '' AND status = 'pending' AND next_attempt_at <= $1 \
             AND (locked_until IS NULL OR locked_until < $1) ORDER BY next_attempt_at LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let id: String = candidate.try_get("id")?;
        // Another instance may be quicker; the caller then simply asks again.
        self.claim_job(&id, now, lease_seconds).await
    }

    /// Claims this job for `lease_seconds` if it is still due and unclaimed, counting the
    /// attempt.
    pub(super) async fn claim_job(
        &self,
        id: &str,
        now: UnixTime,
        lease_seconds: i64,
    ) -> StoreResult<Option<Job>> {
        let claimed = sqlx::query(
            "UPDATE jobs SET locked_until = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $2 \
             AND (locked_until IS NULL OR locked_until < $2) \
             RETURNING id, target, kind, subject_id, attempts",
        )
        .bind(now + lease_seconds)
        .bind(now)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match claimed {
            Some(row) => from_row(&row),
            None => Ok(None),
        }
    }

    pub async fn complete_job(&self, id: &str, now: UnixTime) -> StoreResult<()> {
        // A success also settles earlier failures of the same work: it wrote the current state.
        sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, last_error = NULL, updated_at = $1 \
             WHERE id = $2 OR (status = 'failed' \
             AND target = (SELECT target FROM jobs WHERE id = $2) \
             AND kind = (SELECT kind FROM jobs WHERE id = $2) \
             AND subject_id = (SELECT subject_id FROM jobs WHERE id = $2))",
        )
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Releases the job for another attempt at `retry_at`, keeping the error for admins.
    pub async fn retry_job_later(
        &self,
        id: &str,
        error: &str,
        retry_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET locked_until = NULL, last_error = $1, next_attempt_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(error)
        .bind(retry_at)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Extends a running job's claim (the worker's heartbeat).
    pub async fn renew_job_lease(&self, id: &str, until: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET locked_until = $1 WHERE id = $2 AND status = 'pending' \
             AND locked_until IS NOT NULL",
        )
        .bind(until)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks a job failed for good (LDAP refuses its data): it is not retried on a timer,
    /// and stays on the outbox page with the server's message until someone retries it.
    pub async fn fail_job(&self, id: &str, error: &str, now: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET status = 'failed', locked_until = NULL, last_error = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether another worker is running the subject's job right now (holds its lease).
    pub async fn job_in_progress(
        &self,
        kind: JobKind,
        subject_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs WHERE target = '' AND kind = $1 AND subject_id = $2 \
             AND status = 'pending' AND locked_until >= $3",
        )
        .bind(kind.as_str())
        .bind(subject_id)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Whether LDAP still has to follow a change for this subject (waiting or failed).
    pub async fn has_pending_job(&self, kind: JobKind, subject_id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE target = '' AND kind = $1 AND subject_id = $2 AND status IN ('pending', 'failed')")
            .bind(kind.as_str())
            .bind(subject_id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}

impl Store {
    /// Claims the waiting job for one subject, whether or not it is due yet: used right
    /// after a change, so its result shows at once when LDAP is up. Such attempts do not
    /// count towards the worker's backoff, or busy pages would push retries far out.
    pub async fn claim_job_for(
        &self,
        kind: JobKind,
        subject_id: &str,
        now: UnixTime,
        lease_seconds: i64,
    ) -> StoreResult<Option<Job>> {
        let claimed = sqlx::query(
            "UPDATE jobs SET locked_until = $1, updated_at = $2 \
             WHERE id = (SELECT id FROM jobs WHERE target = '' AND kind = $3 AND subject_id = $4 AND status = 'pending' \
                         AND (locked_until IS NULL OR locked_until < $2) ORDER BY created_at LIMIT 1) \
             AND (locked_until IS NULL OR locked_until < $2) \
             RETURNING id, target, kind, subject_id, attempts",
        )
        .bind(now + lease_seconds)
        .bind(now)
        .bind(kind.as_str())
        .bind(subject_id)
        .fetch_optional(self.pool())
        .await?;
        match claimed {
            Some(row) => from_row(&row),
            None => Ok(None),
        }
    }
}

/// A job as the admin outbox page shows it.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: String,
    /// '' for LDAP, else the SCIM target's name.
    pub target: String,
    pub kind: String,
    pub subject_id: String,
    pub attempts: i64,
    pub next_attempt_at: UnixTime,
    pub last_error: Option<String>,
    pub created_at: UnixTime,
    /// Failed for good: waits for someone to fix the cause and retry it.
    pub failed: bool,
}

impl Store {
    /// Jobs failed for good, then jobs still waiting, oldest first (the waiting ones with
    /// errors are failing and retrying).
    pub async fn pending_jobs(&self, limit: i64) -> StoreResult<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT id, target, kind, subject_id, attempts, next_attempt_at, last_error, created_at, status \
             FROM jobs WHERE status IN ('pending', 'failed') \
             ORDER BY target, CASE WHEN status = 'failed' THEN 0 ELSE 1 END, created_at, id LIMIT ($1 + 0)",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxEntry {
                    id: row.try_get("id")?,
                    target: row.try_get("target")?,
                    kind: row.try_get("kind")?,
                    subject_id: row.try_get("subject_id")?,
                    attempts: row.try_get("attempts")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    last_error: row.try_get("last_error")?,
                    created_at: row.try_get("created_at")?,
                    failed: row.try_get::<String, _>("status")? == "failed",
                })
            })
            .collect()
    }

    /// Makes a waiting or failed job due now; returns it, or `None` when it is no longer
    /// waiting.
    pub async fn make_job_due(&self, id: &str, now: UnixTime) -> StoreResult<Option<Job>> {
        let row = sqlx::query(
            "UPDATE jobs SET status = 'pending', next_attempt_at = $1, updated_at = $1 \
             WHERE id = $2 AND status IN ('pending', 'failed') \
             RETURNING id, target, kind, subject_id, attempts",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => from_row(&row),
            None => Ok(None),
        }
    }
}

/// How many jobs of one outbox target wait or failed, for the metrics: `target` is "ldap",
/// "mail" or a SCIM target's name; `state` is "pending" or "failed".
#[derive(Debug, Clone)]
pub struct OutboxDepth {
    pub target: String,
    pub state: &'static str,
    pub jobs: i64,
    /// When the oldest of them was stored.
    pub oldest_created_at: Option<UnixTime>,
}

impl Store {
    /// Directory, SCIM and mail jobs not done yet, by target and state: two grouped counts.
    pub async fn outbox_depth(&self) -> StoreResult<Vec<OutboxDepth>> {
        let jobs = sqlx::query(
            "SELECT target, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs \
             WHERE status IN ('pending', 'failed') GROUP BY target, status",
        )
        .fetch_all(self.pool())
        .await?;
        let mail = sqlx::query(
            "SELECT 'mail' AS target, status, COUNT(*) AS n, MIN(created_at) AS oldest \
             FROM mail_outbox WHERE status IN ('queued', 'failed') GROUP BY status",
        )
        .fetch_all(self.pool())
        .await?;
        jobs.iter()
            .chain(mail.iter())
            .map(|row| {
                let target: String = row.try_get("target")?;
                Ok(OutboxDepth {
                    // Directory jobs have no target name.
                    target: if target.is_empty() {
                        "ldap".into()
                    } else {
                        target
                    },
                    state: if row.try_get::<String, _>("status")? == "failed" {
                        "failed"
                    } else {
                        "pending"
                    },
                    jobs: row.try_get("n")?,
                    oldest_created_at: row.try_get("oldest")?,
                })
            })
            .collect()
    }
}
