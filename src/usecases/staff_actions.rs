//! What staff do to accounts, behind the boundary of `domain::check_account_action`: staff
//! accounts are changed only by site administrators, nobody locks, deletes or demotes
//! themselves, and the last site administrator stays. Every refusal is audited.

use crate::context::{AppContext, now};
use crate::domain::{AccountAction, Refusal, Role, check_account_action};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::jobs::JobKind;
use crate::store::people::{AccountStatus, Person};

const DELETED: &str = "This account was deleted; nothing can be changed on it.";
use crate::store::staff::StaffError;
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
    #[error(transparent)]
    Staff(StaffError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StaffError> for StaffActionError {
    fn from(error: StaffError) -> Self {
        match error {
            StaffError::LastAdmin => Self::Refused(Refusal::LastAdmin),
            StaffError::Store(error) => Self::Store(error),
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
    let actor_roles = site_roles(ctx, &actor.id).await?;
    let subject_roles = site_roles(ctx, &subject.id).await?;
    Ok(check_account_action(
        AccountAction::ChangeContact,
        &actor_roles,
        &subject_roles,
        actor.id == subject.id,
    )
    .is_ok())
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
    if let Err(error) = ctx.store.record_audit(&event, now()).await {
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
    result: Result<T, StaffError>,
) -> Result<T, StaffActionError> {
    match result {
        Err(StaffError::LastAdmin) => {
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
    reason: &str,
) -> Result<(), StaffActionError> {
    permit(ctx, actor, subject, AccountAction::Lock).await?;
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
            actor.event(subject, "account.locked", details),
            now(),
        )
        .await;
    audit_store_refusal(ctx, actor, subject, AccountAction::Lock, locked).await?;
    crate::jobs::apply_now(ctx, JobKind::SyncAccount, &subject.id).await;
    notices::credentials_changed(ctx, subject, CredentialChange::Locked, actor.client_ip).await;
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
    ctx.store
        .unlock_account(
            &subject.id,
            actor.event(subject, "account.unlocked", "unlocked".into()),
            now(),
        )
        .await?;
    crate::jobs::apply_now(ctx, JobKind::SyncAccount, &subject.id).await;
    notices::credentials_changed(ctx, subject, CredentialChange::Unlocked, actor.client_ip).await;
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
            now(),
        )
        .await;
    let organisations =
        audit_store_refusal(ctx, actor, subject, AccountAction::Delete, deleted).await?;
    crate::jobs::apply_now(ctx, JobKind::SyncAccount, &subject.id).await;
    for organisation_id in &organisations {
        crate::jobs::apply_now(ctx, JobKind::SyncGroup, organisation_id).await;
    }
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
            now(),
        )
        .await;
    audit_store_refusal(ctx, actor, subject, AccountAction::RevokeStaffRole, revoked).await
}
