//! LDAP drift, site-wide: the report (on demand, and on a schedule that mails site admins
//! when the count changes) and its repair. A repair is one audited change: accounts' and
//! groups' outbox jobs are queued and run (they rewrite the entries from the portal), and
//! entries the portal does not know are removed, each only if it still is unknown.

use std::time::Duration;

use crate::context::AppContext;
use crate::jobs::ldap_drift::{self, DriftError, DriftItem, DriftReport, Subject};
use crate::mail::NoticeMail;
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::jobs::JobKind;
use crate::store::organisations::Organisation;

use super::Actor;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// "Repair all" would touch more than the allowed share of the entries.
    #[error(
        "refused: repairing all {items} difference(s) would touch more than {percent}% of the {entries} entries under Roster's bases; repair items one by one, or allow a larger change (roster reconcile --apply --max-change PERCENT)"
    )]
    TooLarge {
        items: usize,
        entries: usize,
        percent: u32,
    },
    #[error("this {0} no longer differs from what Roster expects; nothing to repair")]
    NotDrifting(&'static str),
    #[error(transparent)]
    Drift(#[from] DriftError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a repair did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairOutcome {
    /// Items repaired (their jobs run, or their entries removed).
    pub repaired: usize,
    /// Items that could not be repaired, each with why.
    pub failed: Vec<String>,
}

/// The site's report, now.
pub async fn drift_report(ctx: &AppContext) -> Result<DriftReport, ReconcileError> {
    Ok(ldap_drift::report(ctx).await?)
}

/// The report limited to one organisation (its group, members' accounts, resources).
pub async fn organisation_report(
    ctx: &AppContext,
    organisation: &Organisation,
) -> Result<DriftReport, ReconcileError> {
    Ok(ldap_drift::report_for(ctx, organisation).await?)
}

/// Whether repairing every item of `report` stays within `percent` of its entries.
pub fn check_threshold(report: &DriftReport, percent: u32) -> Result<(), ReconcileError> {
    let items = report.items.len();
    let entries = report.weighed_entries();
    if items * 100 > entries * usize::try_from(percent).unwrap_or(usize::MAX) {
        return Err(ReconcileError::TooLarge {
            items,
            entries,
            percent,
        });
    }
    Ok(())
}

/// Repairs one item, read afresh: refused when it no longer differs.
pub async fn repair_item(
    ctx: &AppContext,
    actor: Actor<'_>,
    client_ip: Option<&str>,
    subject: Subject,
    name: &str,
) -> Result<RepairOutcome, ReconcileError> {
    let Some(item) = ldap_drift::check(ctx, subject, name).await? else {
        return Err(not_drifting(subject));
    };
    repair(ctx, actor, client_ip, &[item]).await
}

/// The refusal to repair an item that no longer differs.
pub fn not_drifting(subject: Subject) -> ReconcileError {
    ReconcileError::NotDrifting(match subject {
        Subject::Account => "account",
        Subject::Group => "organisation group",
        Subject::Resource => "resource group",
        Subject::Unknown => "entry",
    })
}

/// Repairs every item of `report` (made just before), unless that touches more than
/// `percent` of the entries: then nothing is done.
pub async fn repair_all(
    ctx: &AppContext,
    actor: Actor<'_>,
    client_ip: Option<&str>,
    report: &DriftReport,
    percent: u32,
) -> Result<RepairOutcome, ReconcileError> {
    check_threshold(report, percent)?;
    if report.items.is_empty() {
        return Ok(RepairOutcome::default());
    }
    repair(ctx, actor, client_ip, &report.items).await
}

/// One audited repair of `items`.
async fn repair(
    ctx: &AppContext,
    actor: Actor<'_>,
    client_ip: Option<&str>,
    items: &[DriftItem],
) -> Result<RepairOutcome, ReconcileError> {
    let mut jobs: Vec<(JobKind, String)> = Vec::new();
    let mut named: Vec<&DriftItem> = Vec::new();
    let mut unknown = Vec::new();
    for item in items {
        let kind = match item.subject {
            Subject::Account => JobKind::SyncAccount,
            Subject::Group => JobKind::SyncGroup,
            Subject::Resource => JobKind::SyncResource,
            Subject::Unknown => {
                unknown.push(item);
                continue;
            }
        };
        let job = (kind, item.id.clone());
        if !jobs.contains(&job) {
            jobs.push(job);
            named.push(item);
        }
    }
    let details = items
        .iter()
        .map(DriftItem::describe)
        .collect::<Vec<_>>()
        .join("\n");
    ctx.store
        .queue_drift_repair(
            &jobs,
            AuditEvent {
                actor_id: actor.audit_id(),
                action: "ldap.drift_repaired",
                client_ip,
                details: format!("{} item(s)\n{details}", items.len()),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await?;
    let mut outcome = RepairOutcome::default();
    for ((kind, subject_id), item) in jobs.iter().zip(named) {
        crate::jobs::apply_now(ctx, *kind, subject_id).await;
        if ctx.store.has_pending_job(*kind, subject_id).await? {
            outcome.failed.push(format!(
                "{} {} waits in the outbox (see its last error there)",
                item.subject.as_str(),
                item.name
            ));
        } else {
            outcome.repaired += 1;
        }
    }
    for item in unknown {
        // Only while it is still unknown (the portal may have made that name meanwhile).
        match ldap_drift::check(ctx, Subject::Unknown, &item.id).await {
            Ok(Some(_)) => match ctx.directory.delete_unknown_entry(&item.id).await {
                Ok(_) => outcome.repaired += 1,
                Err(error) => outcome.failed.push(format!("{}: {error}", item.name)),
            },
            Ok(None) => {}
            Err(error) => outcome.failed.push(format!("{}: {error}", item.name)),
        }
    }
    Ok(outcome)
}

/// The scheduled dry run: every `reconcile.interval_minutes`, the report's counts are
/// logged, and site admins get one mail each time the count changes (and is not zero).
pub fn spawn_scheduled_reconcile(ctx: AppContext) -> Option<tokio::task::JoinHandle<()>> {
    let minutes = ctx.settings.reconcile.interval_minutes;
    if minutes == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(u64::from(minutes) * 60));
        // The first tick is at once; the first report waits a whole interval, so a
        // starting site applies its outbox before it compares.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let Err(error) = scheduled_dry_run(&ctx).await {
                tracing::warn!(%error, "LDAP drift check failed; the next one will retry");
            }
        }
    }))
}

/// One dry run: logs the counts, and mails site admins if the count changed. Returns the
/// report and whether admins were mailed.
pub async fn scheduled_dry_run(ctx: &AppContext) -> Result<(DriftReport, bool), ReconcileError> {
    let report = drift_report(ctx).await?;
    let counts = report.counts();
    tracing::info!(
        entries = report.entries,
        missing = counts.missing,
        attributes = counts.attributes,
        members = counts.members,
        unknown = counts.unknown,
        "LDAP drift check"
    );
    let count = i64::try_from(report.items.len()).unwrap_or(i64::MAX);
    let changed = ctx
        .store
        .record_ldap_drift_count(count, ctx.clock.now())
        .await?;
    if !changed || report.items.is_empty() {
        return Ok((report, false));
    }
    let link = ctx.public_link("/admin/drift");
    let mut mails = Vec::new();
    for grant in ctx.store.staff().await? {
        let admin = grant.person;
        if grant.role != crate::domain::Role::SiteAdmin
            || admin.status != crate::store::people::AccountStatus::Active
        {
            continue;
        }
        let notice = NoticeMail::ldap_drift(&admin.display_name(), report.items.len(), &link);
        match notice.render() {
            Ok(rendered) => mails.push(super::queued_mail(&admin.email, rendered)),
            Err(error) => tracing::warn!(%error, "could not render the drift notice"),
        }
    }
    ctx.store
        .record_audit(
            &AuditEvent {
                action: "ldap.drift_found",
                details: format!(
                    "{} missing, {} attribute, {} member mismatch(es), {} unknown entr(ies)",
                    counts.missing, counts.attributes, counts.members, counts.unknown
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
