//! What staff do to accounts, behind the boundary of `domain::check_account_action`: staff
//! accounts are changed only by site administrators, nobody locks, deletes or demotes
//! themselves, and the last site administrator stays. Every refusal is audited.

use crate::context::AppContext;
use crate::domain::{
    AccountAction, Email, LockReason, PersonName, Refusal, Role, check_account_action,
};
use crate::mail::NoticeMail;
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::mail_outbox::QueuedMail;
use crate::store::people::{AccountStatus, Person};
use crate::usecases::queued_mail;

const DELETED: &str = "This account was deleted; nothing can be changed on it.";
use crate::store::AccountChangeError;
use crate::usecases::notices::{self, CredentialChange};

/// The staff member acting, and where the request came from.
#[derive(Clone, Copy)]
pub struct StaffActor<'a> {
    pub person: &'a Person,
    pub client_ip: Option<&'a str>,
}

impl<'a> StaffActor<'a> {
    /// An audit event by this staff member about `subject`.
    pub fn event(
        &self,
        subject: &'a Person,
        action: &'static str,
        details: String,
    ) -> AuditEvent<'a> {
        AuditEvent {
            actor_id: Some(&self.person.id),
            subject_id: Some(&subject.id),
            action,
            client_ip: self.client_ip,
            details,
            ..AuditEvent::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StaffActionError {
    #[error("{}", .0.message())]
    Refused(Refusal),
    /// The account is not in a state that allows this (already locked, deleted...).
    #[error("{0}")]
    Conflict(&'static str),
    /// No such key or job (any more).
    #[error("not found")]
    NotFound,
    /// A staff role can only go to an active account.
    #[error("no active account has this email address")]
    NoActiveAccount,
    /// A service this needs (mail) did not answer.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Staff(AccountChangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AccountChangeError> for StaffActionError {
    fn from(error: AccountChangeError) -> Self {
        match error {
            AccountChangeError::LastAdmin => Self::Refused(Refusal::LastAdmin),
            AccountChangeError::Store(error) => Self::Store(error),
            other => Self::Staff(other),
        }
    }
}

async fn site_roles(ctx: &AppContext, person_id: &str) -> Result<Vec<Role>, StoreError> {
    Ok(ctx
        .store
        .person_roles(person_id)
        .await?
        .iter()
        .filter_map(|role| Role::parse(role))
        .filter(|role| role.is_site_wide())
        .collect())
}

/// Whether `actor` may do `action` to `subject`'s account; a refusal is audited.
pub async fn permit(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
    action: AccountAction,
) -> Result<(), StaffActionError> {
    let actor_roles = site_roles(ctx, &actor.person.id).await?;
    let subject_roles = site_roles(ctx, &subject.id).await?;
    let own = actor.person.id == subject.id;
    match check_account_action(action, &actor_roles, &subject_roles, own) {
        Ok(()) => Ok(()),
        Err(refusal) => Err(refused(ctx, actor, subject, action, refusal).await),
    }
}

/// Whether the account may be changed by `actor`, for showing or hiding controls; nothing
/// is audited.
pub async fn may_change_account(
    ctx: &AppContext,
    actor: &Person,
    subject: &Person,
) -> Result<bool, StoreError> {
    Ok(
        refusal_of(ctx, actor, subject, AccountAction::ChangeContact)
            .await?
            .is_none(),
    )
}

/// Why `actor` may not take `action` on `subject`, if they may not: the rule [`permit`]
/// applies, for pages that ask before acting; nothing is audited.
pub async fn refusal_of(
    ctx: &AppContext,
    actor: &Person,
    subject: &Person,
    action: AccountAction,
) -> Result<Option<Refusal>, StoreError> {
    let actor_roles = site_roles(ctx, &actor.id).await?;
    let subject_roles = site_roles(ctx, &subject.id).await?;
    Ok(check_account_action(action, &actor_roles, &subject_roles, actor.id == subject.id).err())
}

/// Audits a refused attempt and returns the error to answer with.
async fn refused(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
    action: AccountAction,
    refusal: Refusal,
) -> StaffActionError {
    tracing::info!(actor = %actor.person.id, subject = %subject.id, action = action.as_str(), ?refusal, "staff action refused");
    let event = actor.event(
        subject,
        "staff.refused",
        format!("refused {}: {}", action.as_str(), refusal.message()),
    );
    if let Err(error) = ctx.store.record_audit(&event, ctx.clock.now()).await {
        return error.into();
    }
    StaffActionError::Refused(refusal)
}

/// Audits a refusal the store found inside its transaction (the last administrator).
async fn audit_store_refusal<T>(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
    action: AccountAction,
    result: Result<T, AccountChangeError>,
) -> Result<T, StaffActionError> {
    match result {
        Err(AccountChangeError::LastAdmin) => {
            Err(refused(ctx, actor, subject, action, Refusal::LastAdmin).await)
        }
        other => other.map_err(StaffActionError::from),
    }
}

/// Locks an account: sessions end, sign-in is refused, and the LDAP entry loses its
/// password and keys. The person is told.
pub async fn lock(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
    reason: &LockReason,
) -> Result<(), StaffActionError> {
    permit(ctx, actor, subject, AccountAction::Lock).await?;
    let reason = reason.as_str();
    match subject.status {
        AccountStatus::Deleted => return Err(StaffActionError::Conflict(DELETED)),
        AccountStatus::Locked => {
            return Err(StaffActionError::Conflict(
                "This account is already locked.",
            ));
        }
        AccountStatus::Active => {}
    }
    let details = if reason.is_empty() {
        "locked".to_string()
    } else {
        format!("locked: {reason}")
    };
    let locked = ctx
        .store
        .lock_account(
            &subject.id,
            reason,
            actor
                .event(subject, "account.locked", details)
                .with_mails(notices::credential_notice(
                    ctx,
                    subject,
                    CredentialChange::Locked,
                    actor.client_ip,
                )),
            ctx.clock.now(),
        )
        .await;
    let receipt = audit_store_refusal(ctx, actor, subject, AccountAction::Lock, locked).await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

pub async fn unlock(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
) -> Result<(), StaffActionError> {
    permit(ctx, actor, subject, AccountAction::Unlock).await?;
    if subject.status != AccountStatus::Locked {
        return Err(StaffActionError::Conflict("This account is not locked."));
    }
    let receipt = ctx
        .store
        .unlock_account(
            &subject.id,
            actor
                .event(subject, "account.unlocked", "unlocked".into())
                .with_mails(notices::credential_notice(
                    ctx,
                    subject,
                    CredentialChange::Unlocked,
                    actor.client_ip,
                )),
            ctx.clock.now(),
        )
        .await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Deletes an account (see `Store::delete_account`); `details` describe it for the trail.
pub async fn delete(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
    details: String,
) -> Result<(), StaffActionError> {
    permit(ctx, actor, subject, AccountAction::Delete).await?;
    let deleted = ctx
        .store
        .delete_account(
            &subject.id,
            actor.event(subject, "account.deleted", details),
            ctx.clock.now(),
        )
        .await;
    let receipt = audit_store_refusal(ctx, actor, subject, AccountAction::Delete, deleted).await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Revokes a site role; false when the person did not hold it.
pub async fn revoke_staff_role(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
    role: Role,
) -> Result<bool, StaffActionError> {
    permit(ctx, actor, subject, AccountAction::RevokeStaffRole).await?;
    let revoked = ctx
        .store
        .revoke_site_role(
            &subject.id,
            role,
            actor.event(
                subject,
                "staff.revoked",
                format!("revoked {} from {}", role.label(), subject.display_name()),
            ),
            ctx.clock.now(),
        )
        .await;
    audit_store_refusal(ctx, actor, subject, AccountAction::RevokeStaffRole, revoked).await
}

/// What a contact change did beyond saving.
pub struct ContactChanged {
    /// The notice to the old and new address could not be sent to one of them.
    pub notice_failed: bool,
}

/// Changes a person's names and email. A changed address is told to both the old and the
/// new address. `EmailTaken` when another account uses the address.
pub async fn change_contact(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
    surname: &PersonName,
    given_name: Option<&PersonName>,
    email: &Email,
) -> Result<ContactChanged, StaffActionError> {
    permit(ctx, actor, subject, AccountAction::ChangeContact).await?;
    if subject.status == AccountStatus::Deleted {
        return Err(StaffActionError::Conflict(DELETED));
    }
    let taken = email.normalized() != subject.email.to_lowercase()
        && ctx
            .store
            .person_by_email(email)
            .await?
            .is_some_and(|other| other.id != subject.id);
    if taken {
        return Err(StaffActionError::Staff(AccountChangeError::EmailTaken));
    }
    let old_email = subject.email.clone();
    let email_changed = email.as_str() != old_email;
    let new_name = match given_name {
        Some(given) => format!("{given} {surname}"),
        None => surname.to_string(),
    };
    let mut details = format!("name {} → {new_name}", subject.display_name());
    if email_changed {
        details.push_str(&format!("; email {old_email} → {}", email.as_str()));
    }
    // The notice goes to the old and the new address, stored with the change.
    let mut notices = Vec::new();
    if email_changed {
        let notice = NoticeMail::email_changed(&new_name, &old_email, email.as_str());
        match notice.render() {
            Ok(rendered) => {
                let to_old = queued_mail(&old_email, rendered);
                let to_new = QueuedMail {
                    to: email.as_str().to_string(),
                    ..to_old.clone()
                };
                notices.extend([to_old, to_new]);
            }
            Err(error) => tracing::warn!(%error, "email-change notice not rendered"),
        }
    }
    let notice_failed = email_changed && notices.is_empty();
    let receipt = ctx
        .store
        .change_contact(
            &subject.id,
            surname,
            given_name,
            email,
            actor
                .event(subject, "account.contact_changed", details)
                .with_mails(notices),
            ctx.clock.now(),
        )
        .await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(ContactChanged { notice_failed })
}

/// Queues a mail to the person with a password-reset link that staff never see.
pub async fn send_reset(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
) -> Result<(), StaffActionError> {
    permit(ctx, actor, subject, AccountAction::SendPasswordReset).await?;
    match subject.status {
        AccountStatus::Deleted => return Err(StaffActionError::Conflict(DELETED)),
        AccountStatus::Locked => {
            return Err(StaffActionError::Conflict(
                "This account is locked: unlock it first.",
            ));
        }
        AccountStatus::Active => {}
    }
    if let Err(error) =
        crate::usecases::accounts::send_password_reset(ctx, subject, Some(actor.person)).await
    {
        tracing::warn!(%error, "password-reset link not queued");
        return Err(StaffActionError::Unavailable(
            "The reset link could not be prepared. Try again in a few minutes.",
        ));
    }
    let event = actor.event(
        subject,
        "account.reset_link_sent",
        format!("password-reset link emailed to {}", subject.email),
    );
    ctx.store.record_audit(&event, ctx.clock.now()).await?;
    Ok(())
}

/// Removes one of the person's SSH keys (a compromised one, say); the person is told.
/// `NotFound` when the account has no such key.
pub async fn remove_key(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
    key_id: &str,
) -> Result<(), StaffActionError> {
    permit(ctx, actor, subject, AccountAction::RemoveKey).await?;
    let key = ctx
        .store
        .keys_of(&subject.id)
        .await?
        .into_iter()
        .find(|key| key.id == key_id)
        .ok_or(StaffActionError::NotFound)?;
    let removed = ctx
        .store
        .remove_key(
            &subject.id,
            &key.id,
            actor
                .event(
                    subject,
                    "account.key_removed",
                    format!("removed SSH key {} ({})", key.fingerprint, key.comment),
                )
                .with_mails(notices::credential_notice(
                    ctx,
                    subject,
                    CredentialChange::KeyRemoved {
                        fingerprint: &key.fingerprint,
                        by_staff: true,
                    },
                    actor.client_ip,
                )),
            ctx.clock.now(),
        )
        .await?;
    let receipt = removed.ok_or(StaffActionError::NotFound)?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Rewrites the entry and the person's groups from the portal's state; running it again
/// changes nothing.
pub async fn resync(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    subject: &Person,
) -> Result<(), StaffActionError> {
    permit(ctx, actor, subject, AccountAction::Resync).await?;
    if subject.status == AccountStatus::Deleted {
        return Err(StaffActionError::Conflict(DELETED));
    }
    let receipt = ctx
        .store
        .queue_resync(
            &subject.id,
            actor.event(
                subject,
                "account.resynced",
                "LDAP entry and groups rewritten from the portal".into(),
            ),
            ctx.clock.now(),
        )
        .await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Grants a site role to the active account with this email; false when they already
/// held it. `NoActiveAccount` when no active account has the address.
pub async fn grant_staff_role(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    email: &Email,
    role: Role,
) -> Result<bool, StaffActionError> {
    let subject = ctx
        .store
        .person_by_email(email)
        .await?
        .filter(|person| person.status == AccountStatus::Active)
        .ok_or(StaffActionError::NoActiveAccount)?;
    Ok(ctx
        .store
        .grant_site_role(
            &subject.id,
            role,
            &actor.person.id,
            actor.event(
                &subject,
                "staff.granted",
                format!("granted {} to {}", role.label(), subject.display_name()),
            ),
            ctx.clock.now(),
        )
        .await?)
}

/// Makes a waiting or failed directory job due now and tries it (after its cause was
/// fixed, say). `NotFound` when it is no longer waiting.
pub async fn retry_job(
    ctx: &AppContext,
    actor: StaffActor<'_>,
    job_id: &str,
) -> Result<(), StaffActionError> {
    let job = ctx
        .store
        .make_job_due(job_id, ctx.clock.now())
        .await?
        .ok_or(StaffActionError::NotFound)?;
    let (kind, subject_id) = (job.kind, job.subject_id);
    ctx.store
        .record_audit(
            &AuditEvent {
                actor_id: Some(&actor.person.id),
                action: "job.retried",
                subject_id: Some(&subject_id),
                client_ip: actor.client_ip,
                details: format!("retried {} job {job_id}", kind.as_str()),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await?;
    if job.target.is_empty() {
        crate::jobs::apply_now(ctx, kind, &subject_id).await;
    } else {
        ctx.scim_signal.notify_waiters();
    }
    Ok(())
}
