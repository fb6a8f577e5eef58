//! SCIM targets' drift: the report (on demand, and on a schedule that mails site admins
//! once per change of the report) and its repair, which queues the items' jobs through the
//! outbox, audited, and runs them.

use std::time::Duration;

use crate::context::AppContext;
use crate::jobs::scim_drift::{DriftError, DriftItem, DriftReport, reconcile};
use crate::mail::NoticeMail;
use crate::scim::ScimTarget;
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::jobs::JobKind;
use crate::store::scim::ScimKind;

use super::Actor;

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    #[error("no SCIM target is named {0}")]
    UnknownTarget(String),
    #[error(transparent)]
    Drift(#[from] DriftError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The configured target with this name.
pub fn target<'c>(ctx: &'c AppContext, name: &str) -> Result<&'c ScimTarget, ProvisioningError> {
    ctx.scim
        .iter()
        .find(|target| target.name() == name)
        .ok_or_else(|| ProvisioningError::UnknownTarget(name.to_string()))
}

/// The target's drift report, now.
pub async fn drift_report(ctx: &AppContext, name: &str) -> Result<DriftReport, ProvisioningError> {
    Ok(reconcile(ctx, target(ctx, name)?).await?)
}

/// Repairs these items (all of a report, or one): each item's job is queued, audited as
/// one repair, and run now. Returns how many jobs ran.
pub async fn repair_drift(
    ctx: &AppContext,
    actor: Actor<'_>,
    client_ip: Option<&str>,
    name: &str,
    items: &[DriftItem],
) -> Result<usize, ProvisioningError> {
    let target = target(ctx, name)?;
    let mut jobs: Vec<(JobKind, String)> = Vec::new();
    for item in items {
        let kind = match item.kind {
            ScimKind::User => JobKind::ScimUser,
            ScimKind::Group => JobKind::ScimGroup,
        };
        let job = (kind, item.local_id.clone());
        if !jobs.contains(&job) {
            jobs.push(job);
        }
    }
    let details = items
        .iter()
        .map(DriftItem::describe)
        .collect::<Vec<_>>()
        .join("\n");
    ctx.store
        .queue_scim_work(
            name,
            &jobs,
            AuditEvent {
                actor_id: actor.audit_id(),
                action: "scim.drift_repaired",
                client_ip,
                details: format!("{name}: {} item(s)\n{details}", items.len()),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await?;
    Ok(crate::jobs::scim::run_target_due(ctx, target).await)
}

/// The scheduled dry run: every `provisioning.reconcile_minutes`, each target's report is
/// logged, and site admins get one mail each time a target's report changes to a new drift.
pub fn spawn_scheduled_reconcile(ctx: AppContext) -> Option<tokio::task::JoinHandle<()>> {
    let minutes = ctx.settings.provisioning.reconcile_minutes;
    if minutes == 0 || ctx.scim.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(u64::from(minutes) * 60));
        // The first tick is at once; the first report waits a whole interval, so a
        // starting site pushes before it compares.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            for target in ctx.scim.iter() {
                if let Err(error) = scheduled_dry_run(&ctx, target.name()).await {
                    tracing::warn!(%error, target = target.name(), "SCIM drift check failed; the next one will retry");
                }
            }
        }
    }))
}

/// One dry run of one target: logs the counts, and mails site admins if the report is new.
/// Returns the report and whether admins were mailed.
pub async fn scheduled_dry_run(
    ctx: &AppContext,
    name: &str,
) -> Result<(DriftReport, bool), ProvisioningError> {
    let report = drift_report(ctx, name).await?;
    let (missing, extra, attributes, members) = report.counts();
    tracing::info!(
        target = name,
        missing,
        extra,
        attributes,
        members,
        users_expected = report.users_expected,
        groups_expected = report.groups_expected,
        "SCIM drift check"
    );
    let mut lines: Vec<String> = report.items.iter().map(DriftItem::describe).collect();
    lines.sort();
    let digest = crate::domain::sha256_hex(lines.join("\n").as_bytes());
    let changed = ctx
        .store
        .record_scim_report(name, &digest, ctx.clock.now())
        .await?;
    if !changed || report.items.is_empty() {
        return Ok((report, false));
    }
    let link = ctx.public_link(&format!("/admin/scim/{name}"));
    let mut mails = Vec::new();
    for grant in ctx.store.staff().await? {
        let admin = grant.person;
        if grant.role != crate::domain::Role::SiteAdmin
            || admin.status != crate::store::people::AccountStatus::Active
        {
            continue;
        }
        let notice = NoticeMail::scim_drift(&admin.display_name(), name, report.items.len(), &link);
        match notice.render() {
            Ok(rendered) => mails.push(super::queued_mail(&admin.email, rendered)),
            Err(error) => tracing::warn!(%error, "could not render the drift notice"),
        }
    }
    ctx.store
        .record_audit(
            &AuditEvent {
                action: "scim.drift_found",
                details: format!(
                    "{name}: {missing} missing, {extra} extra, {attributes} attribute and {members} member mismatch(es)"
                ),
                ..AuditEvent::default()
            }
            .with_mails(mails),
            ctx.clock.now(),
        )
        .await?;
    ctx.mail_signal.notify_one();
    Ok((report, true))
}
