//! The mail worker: sends the messages changes stored in the mail outbox, one at a time
//! per instance, each in the next slot of the site-wide pacing (`mail.rate_per_minute`).
//! A server that cannot be reached, or answers 4xx, means the message waits and is tried
//! again (5 s doubling to 2 min); a 5xx refusal marks it failed with the server's answer.

use std::time::Duration;

use crate::context::AppContext;
use crate::mail::RenderedMail;
use crate::store::mail_outbox::OutboxMail;

/// How long a claim lasts: the longest wait for a slot (a minute, at the lowest rate) plus
/// the send itself. An instance that dies mid-send holds its message at most this long.
const MAIL_LEASE_SECONDS: i64 = 90;
/// Idle poll interval; a stored message wakes the worker at once through `mail_signal`.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a message waits for its slot: more means the slot was reserved by a clock
/// far ahead of this one, and waiting for it would stall the outbox.
const MAX_SLOT_WAIT_MS: i64 = 60_000;

/// Starts the mail worker; it finishes the message in hand and ends when the instance stops.
pub fn spawn_mail_worker(ctx: AppContext) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            while !ctx.stopping.is_cancelled() && send_one_due(&ctx).await {}
            if !super::idle(&ctx, &ctx.mail_signal, POLL_INTERVAL).await {
                return;
            }
        }
    })
}

/// Sends one due message, if any; true when one was tried (whatever its outcome).
pub async fn send_one_due(ctx: &AppContext) -> bool {
    let mail = match ctx
        .store
        .claim_due_mail(ctx.clock.now(), MAIL_LEASE_SECONDS)
        .await
    {
        Ok(Some(mail)) => mail,
        Ok(None) => return false,
        Err(error) => {
            tracing::warn!(%error, "could not claim a mail");
            return false;
        }
    };
    wait_for_slot(ctx).await;
    send(ctx, mail).await;
    true
}

/// Sends the invitation's message now, if it may go (the command line's `invite`, which
/// has no worker of its own and must not wait for the rest of the outbox).
pub async fn send_for_invitation(ctx: &AppContext, invitation_id: &str) {
    match ctx
        .store
        .claim_mail_of_invitation(invitation_id, ctx.clock.now(), MAIL_LEASE_SECONDS)
        .await
    {
        Ok(Some(mail)) => {
            wait_for_slot(ctx).await;
            send(ctx, mail).await;
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "could not claim the invitation's mail"),
    }
}

/// Sends everything due now (the command line's `outbox run`, and tests); returns how many
/// messages were tried.
pub async fn send_all_due(ctx: &AppContext) -> usize {
    let mut tried = 0;
    while send_one_due(ctx).await {
        tried += 1;
    }
    tried
}

/// Waits for this instance's turn in the site-wide pacing.
async fn wait_for_slot(ctx: &AppContext) {
    let interval_ms = 60_000 / i64::from(ctx.settings.mail.rate_per_minute.max(1));
    let Some(now_ms) = crate::clock::now_millis() else {
        return;
    };
    match ctx.store.reserve_mail_slot(now_ms, interval_ms).await {
        Ok(slot_ms) => {
            let wait_ms = (slot_ms - now_ms).clamp(0, MAX_SLOT_WAIT_MS);
            if wait_ms > 0 {
                tokio::time::sleep(Duration::from_millis(wait_ms.unsigned_abs())).await;
            }
        }
        // Pacing is a courtesy to the relay; a database hiccup must not stop the mail.
        Err(error) => tracing::warn!(%error, "could not reserve a mail slot; sending anyway"),
    }
}

async fn send(ctx: &AppContext, mail: OutboxMail) {
    let rendered = RenderedMail {
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
    };
    let now = ctx.clock.now();
    let stored = match ctx.mailer.send(&mail.to, rendered).await {
        Ok(()) => {
            ctx.metrics.mail("sent");
            ctx.store.mark_mail_sent(&mail.id, now).await
        }
        Err(error) if error.is_permanent() => {
            ctx.metrics.mail("failed");
            tracing::error!(mail = %mail.id, %error, "mail refused for good");
            ctx.store
                .mark_mail_failed(&mail.id, &error.to_string(), now)
                .await
        }
        Err(error) => {
            ctx.metrics.mail("deferred");
            let retry_in = super::backoff_seconds(mail.attempts);
            tracing::warn!(mail = %mail.id, attempts = mail.attempts, retry_in, %error, "mail not sent; will retry");
            ctx.store
                .retry_mail_later(&mail.id, &error.to_string(), now + retry_in, now)
                .await
        }
    };
    if let Err(error) = stored {
        tracing::error!(mail = %mail.id, %error, "could not record a mail's outcome; it may be sent again when its lease ends");
    }
}
