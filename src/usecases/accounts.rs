//! Turning an activated person into a POSIX account: username, uidNumber, private group,
//! shell, and the directory entry (through the outbox).

use crate::context::AppContext;
use crate::directory::DirectoryError;
use crate::domain::PosixUsername;
use crate::mail::PasswordResetMail;
use crate::store::StoreError;
use crate::store::accounts::{CompleteError, NewAccount};
use crate::store::audit::AuditEvent;
use crate::store::jobs::JobKind;
use crate::store::passwords::ResetBudget;
use crate::store::people::Person;
use crate::usecases::ids::{self, IdError, WhenLdapDown};
use crate::usecases::invitations::format_date;
use crate::usecases::queued_mail;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the account is already set up")]
    AlreadyComplete,
    #[error("no {0} is left in the configured range")]
    RangeExhausted(&'static str),
    #[error("the directory is unavailable: {0}")]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IdError> for AccountError {
    fn from(error: IdError) -> Self {
        match error {
            IdError::RangeExhausted(what) => Self::RangeExhausted(what),
            IdError::Directory(error) => Self::Directory(error),
            IdError::Store(error) => Self::Store(error),
        }
    }
}

/// Free in the portal (people and organisation groups) and in the directory (uids and
/// group names)? While LDAP is down only the portal can answer; the directory is checked
/// again when the entry is written, and a clash is never overwritten (see
/// `Directory::sync_account`).
pub async fn username_available(
    ctx: &AppContext,
    username: &PosixUsername,
) -> Result<bool, AccountError> {
    if ctx.store.name_used_in_portal(username.as_str()).await? {
        return Ok(false);
    }
    match ctx.directory.name_taken(username.as_str()).await {
        Ok(taken) => Ok(!taken),
        Err(error) if error.is_outage() => {
            tracing::warn!(%error, "LDAP down: username checked in the portal only");
            Ok(true)
        }
        Err(error) => Err(error.into()),
    }
}

/// Gives `person` their POSIX account. Returns true when the directory entry is already
/// in place, false when it waits for LDAP (the worker applies it later).
pub async fn complete_account(
    ctx: &AppContext,
    person: &Person,
    username: &PosixUsername,
    login_shell: &str,
    client_ip: Option<&str>,
) -> Result<bool, AccountError> {
    if !person.needs_account() {
        return Err(AccountError::AlreadyComplete);
    }
    if !username_available(ctx, username).await? {
        return Err(AccountError::UsernameTaken);
    }
    let uid_number = ids::allocate_uid(ctx, &person.id).await?;
    let gid_number = ids::allocate_gid(
        ctx,
        &person.id,
        Some(uid_number),
        WhenLdapDown::CheckAtWrite,
    )
    .await?;
    let ldap_dn = ctx.directory.person_dn(username.as_str());
    let receipt = ctx
        .store
        .complete_account(
            &person.id,
            NewAccount {
                username,
                uid_number,
                gid_number,
                login_shell,
                ldap_dn: &ldap_dn,
            },
            AuditEvent {
                actor_id: Some(&person.id),
                action: "account.created",
                client_ip,
                details: format!(
                    "chose username {username}; uidNumber {uid_number}, gidNumber {gid_number}"
                ),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await
        .map_err(|error| match error {
            CompleteError::UsernameTaken => AccountError::UsernameTaken,
            CompleteError::AlreadyComplete => AccountError::AlreadyComplete,
            CompleteError::Store(error) => AccountError::Store(error),
        })?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(!ctx
        .store
        .has_pending_job(JobKind::SyncAccount, &person.id)
        .await?)
}

/// How long a password-reset link works.
pub const RESET_LINK_SECONDS: i64 = 3600;

/// Queues a mail to the person with a single-use link to choose a new password; nobody else
/// sees it.
/// A request from the sign-in page is mailed only while the account's hourly budget
/// (`security.reset_mails_per_account_per_hour`) lasts, so nobody can flood someone's
/// mailbox; false when it was not mailed for that reason. Staff (`sent_by_staff`, who then
/// see the mail's delivery on the account page) are not limited.
pub async fn send_password_reset(
    ctx: &AppContext,
    person: &Person,
    sent_by_staff: Option<&Person>,
) -> anyhow::Result<bool> {
    let token = crate::entropy::secret_token()?;
    let now = ctx.clock.now();
    let expires_at = now + RESET_LINK_SECONDS;
    let budget = sent_by_staff.is_none().then(|| ResetBudget {
        mails: i64::from(ctx.settings.security.reset_mails_per_account_per_hour),
        since: now - 3600,
    });
    let mail = PasswordResetMail {
        greeting_name: person.display_name(),
        sent_by_staff: sent_by_staff.is_some(),
        link: ctx.public_link(&format!("/password-reset/{}", token.expose())),
        expires: format_date(expires_at),
    };
    let mail = queued_mail(&person.email, mail.render()?);
    let created = ctx
        .store
        .create_password_reset(
            &person.id,
            &token.hash(),
            expires_at,
            budget,
            (mail, sent_by_staff.map(|staff| staff.id.as_str())),
            now,
        )
        .await?;
    ctx.mail_signal.notify_one();
    Ok(created)
}
