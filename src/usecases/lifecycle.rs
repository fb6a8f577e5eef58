//! The scheduled lifecycle job: reminders before a membership's end date, the ending itself
//! (memberUid removed through the outbox), and locking accounts left without a membership
//! for longer than the grace period. Nothing is ever deleted automatically.
//!
//! Every step claims its row first, so several instances (or a cron run beside them) act on
//! each membership once; a mail that cannot be sent gives its reminder back for the next run.

use std::time::Duration;

use crate::context::AppContext;
use crate::domain::UnixTime;
use crate::mail::NoticeMail;
use crate::store::AccountChangeError;
use crate::store::audit::AuditEvent;
use crate::store::lifecycle::EndingMembership;

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
        if !ctx
            .store
            .claim_reminder(&ending.membership_id, &ending.ends_on)
            .await?
        {
            continue;
        }
        match send_reminders(ctx, &ending, &today).await {
            Ok(()) => report.reminders += 1,
            Err(error) => {
                tracing::warn!(membership = %ending.membership_id, %error, "reminder not sent; will retry");
                ctx.store.release_reminder(&ending.membership_id).await?;
            }
        }
    }

    // Each organisation's group is rewritten once after all its endings, not once per
    // ending: a first run after an import may end thousands in one group.
    let mut groups_to_sync = crate::store::unit_of_work::Receipt::default();
    for ending in ctx.store.endings_due(&today).await? {
        let event = AuditEvent {
            action: "membership.ended",
            details: format!(
                "membership of {} ended (end date {})",
                ending.display_name(),
                ending.ends_on
            ),
            ..Default::default()
        };
        let Some(receipt) = ctx.store.end_membership(&ending, event, at).await? else {
            continue;
        };
        report.endings += 1;
        // Each group is rewritten once, after all its endings.
        groups_to_sync = groups_to_sync.and(receipt);
        if let Err(error) = send_endings(ctx, &ending, &today).await {
            tracing::warn!(membership = %ending.membership_id, %error, "membership-ended mail not sent");
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
    if report != LifecycleReport::default() {
        tracing::info!(?report, "lifecycle run");
    }
    Ok(report)
}

async fn send_reminders(
    ctx: &AppContext,
    ending: &EndingMembership,
    today: &str,
) -> anyhow::Result<()> {
    let member = ending.display_name();
    let to_member =
        NoticeMail::membership_ending(&member, None, &ending.organisation_name, &ending.ends_on);
    ctx.mailer.send(&ending.email, to_member.render()?).await?;
    for owner in ctx.store.owners_of(&ending.organisation_id, today).await? {
        if owner.email == ending.email {
            continue;
        }
        let to_owner = NoticeMail::membership_ending(
            &owner.name,
            Some(&member),
            &ending.organisation_name,
            &ending.ends_on,
        );
        ctx.mailer.send(&owner.email, to_owner.render()?).await?;
    }
    Ok(())
}

async fn send_endings(
    ctx: &AppContext,
    ending: &EndingMembership,
    today: &str,
) -> anyhow::Result<()> {
    let member = ending.display_name();
    let grace_days = ctx.settings.lifecycle.grace_days;
    let to_member =
        NoticeMail::membership_ended(&member, None, &ending.organisation_name, grace_days);
    ctx.mailer.send(&ending.email, to_member.render()?).await?;
    for owner in ctx.store.owners_of(&ending.organisation_id, today).await? {
        if owner.email == ending.email {
            continue;
        }
        let to_owner = NoticeMail::membership_ended(
            &owner.name,
            Some(&member),
            &ending.organisation_name,
            grace_days,
        );
        ctx.mailer.send(&owner.email, to_owner.render()?).await?;
    }
    Ok(())
}

fn date_of(at: UnixTime) -> anyhow::Result<time::Date> {
    Ok(time::OffsetDateTime::from_unix_timestamp(at)?.date())
}

fn iso(date: time::Date) -> String {
    crate::domain::EndDate::from_date(date).to_iso()
}
