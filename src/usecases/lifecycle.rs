//! The scheduled lifecycle job: reminders before a membership's end date, the ending itself
//! (memberUid removed through the outbox), and locking accounts left without a membership
//! for longer than the grace period. Nothing is ever deleted automatically.
//!
//! Every step claims its row first, so several instances (or a cron run beside them) act on
//! each membership once; the mails are stored with the step that sends them (the mail
//! outbox delivers them, and retries while the mail server is down).

use std::time::Duration;

use crate::context::AppContext;
use crate::domain::UnixTime;
use crate::mail::NoticeMail;
use crate::store::AccountChangeError;
use crate::store::audit::AuditEvent;
use crate::store::lifecycle::EndingMembership;
use crate::store::mail_outbox::QueuedMail;
use crate::usecases::queued_mail;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LifecycleReport {
    pub reminders: usize,
    pub endings: usize,
    pub locked: usize,
}

/// Starts the periodic run (`lifecycle.interval_minutes`; 0 turns it off).
pub fn spawn_lifecycle(ctx: AppContext) -> Option<tokio::task::JoinHandle<()>> {
    let minutes = ctx.settings.lifecycle.interval_minutes;
    if minutes == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(u64::from(minutes) * 60));
        loop {
            ticker.tick().await;
            if let Err(error) = run_lifecycle(&ctx, ctx.clock.now()).await {
                tracing::warn!(%error, "lifecycle run failed; the next run will retry");
            }
        }
    }))
}

/// One run as of `at` (the current time, except in tests and catch-up runs).
pub async fn run_lifecycle(ctx: &AppContext, at: UnixTime) -> anyhow::Result<LifecycleReport> {
    let today = date_of(at)?;
    let settings = &ctx.settings.lifecycle;
    let remind_until = today + time::Duration::days(i64::from(settings.reminder_days));
    let (today, remind_until) = (iso(today), iso(remind_until));
    let mut report = LifecycleReport::default();

    for ending in ctx.store.reminders_due(&today, &remind_until).await? {
        let mails = notices_to_member_and_owners(ctx, &ending, &today, |name, member| {
            NoticeMail::membership_ending(name, member, &ending.organisation_name, &ending.ends_on)
        })
        .await?;
        if ctx
            .store
            .claim_reminder(&ending.membership_id, &ending.ends_on, &mails, at)
            .await?
        {
            report.reminders += 1;
        }
    }

    // Each organisation's group is rewritten once after all its endings, not once per
    // ending: a first run after an import may end thousands in one group.
    let mut groups_to_sync = crate::store::unit_of_work::Receipt::default();
    let grace_days = settings.grace_days;
    for ending in ctx.store.endings_due(&today).await? {
        let mails = notices_to_member_and_owners(ctx, &ending, &today, |name, member| {
            NoticeMail::membership_ended(name, member, &ending.organisation_name, grace_days)
        })
        .await?;
        let event = AuditEvent {
            action: "membership.ended",
            details: format!(
                "membership of {} ended (end date {})",
                ending.display_name(),
                ending.ends_on
            ),
            mails,
            ..Default::default()
        };
        let Some(receipt) = ctx.store.end_membership(&ending, event, at).await? else {
            continue;
        };
        report.endings += 1;
        // Each group is rewritten once, after all its endings.
        groups_to_sync = groups_to_sync.and(receipt);
    }

    // Resources past their end date lose their access (their groups are emptied, and kept).
    for resource in ctx.store.resource_endings_due(&today).await? {
        let event = AuditEvent {
            action: "resource.ended",
            details: format!(
                "{} passed its end date {}; nobody may use it now",
                resource.group_name,
                resource.ends_on.as_deref().unwrap_or_default()
            ),
            ..Default::default()
        };
        if let Some(receipt) = ctx.store.end_resource(&resource, event, at).await? {
            report.endings += 1;
            groups_to_sync = groups_to_sync.and(receipt);
        }
    }
    for resource in ctx
        .store
        .resource_reminders_due(&today, &remind_until)
        .await?
    {
        let ends_on = resource.ends_on.clone().unwrap_or_default();
        let mut mails = Vec::new();
        for owner in ctx
            .store
            .owners_of(&resource.organisation_id, &today)
            .await?
        {
            let notice = NoticeMail {
                subject: format!("{} ends on {ends_on}", resource.name),
                greeting_name: owner.name.clone(),
                paragraphs: vec![
                    format!(
                        "The resource {} ({}) of your organisation ends on {ends_on}. After that day nobody can use it.",
                        resource.name, resource.group_name
                    ),
                    "To keep it, change its end date in Roster, or ask a site administrator."
                        .into(),
                ],
            };
            mails.push(queued_mail(&owner.email, notice.render()?));
        }
        if ctx
            .store
            .claim_resource_reminder(&resource, &mails, at)
            .await?
        {
            report.reminders += 1;
        }
    }

    crate::jobs::apply(ctx, groups_to_sync).await;

    ctx.store.track_memberless(&today, at).await?;
    let cutoff = at - i64::from(settings.grace_days) * 86_400;
    for person_id in ctx.store.grace_expired(cutoff).await? {
        let event = AuditEvent {
            action: "account.locked",
            details: format!(
                "locked automatically: no membership for {} days",
                settings.grace_days
            ),
            ..Default::default()
        };
        match ctx
            .store
            .lock_account(&person_id, "no membership left", event, at)
            .await
        {
            Ok(receipt) => {
                report.locked += 1;
                crate::jobs::apply(ctx, receipt).await;
            }
            // Locked by someone else meanwhile.
            Err(AccountChangeError::WrongState) => {}
            Err(error) => return Err(error.into()),
        }
    }
    ctx.mail_signal.notify_one();
    if report != LifecycleReport::default() {
        tracing::info!(?report, "lifecycle run");
    }
    Ok(report)
}

/// One notice to the member and one to each current owner (but not twice to a member who
/// owns the organisation); `notice(greeting, member)` writes it, with `member` `None` for
/// the member's own copy.
async fn notices_to_member_and_owners(
    ctx: &AppContext,
    ending: &EndingMembership,
    today: &str,
    notice: impl Fn(&str, Option<&str>) -> NoticeMail,
) -> anyhow::Result<Vec<QueuedMail>> {
    let member = ending.display_name();
    let mut mails = vec![queued_mail(&ending.email, notice(&member, None).render()?)];
    for owner in ctx.store.owners_of(&ending.organisation_id, today).await? {
        if owner.email == ending.email {
            continue;
        }
        let to_owner = notice(&owner.name, Some(&member)).render()?;
        mails.push(queued_mail(&owner.email, to_owner));
    }
    Ok(mails)
}

fn date_of(at: UnixTime) -> anyhow::Result<time::Date> {
    Ok(time::OffsetDateTime::from_unix_timestamp(at)?.date())
}

fn iso(date: time::Date) -> String {
    crate::domain::EndDate::from_date(date).to_iso()
}
