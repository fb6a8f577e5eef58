//! What people change on their own account: name, password, SSH keys, linked identities,
//! a forgotten password reset by link; and the audit of a sign-in.

use crate::auth::password::PasswordError;
use crate::context::AppContext;
use crate::domain::{NewPassword, PersonName, SecretToken, SshPublicKey};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::people::Person;
use crate::store::ssh_keys::AddKeyError;
use crate::usecases::notices::{self, CredentialChange};

/// The person changing their own account, and where the request came from.
#[derive(Clone, Copy)]
pub struct Me<'a> {
    pub person: &'a Person,
    pub client_ip: Option<&'a str>,
}

impl<'a> Me<'a> {
    fn event(&self, action: &'static str, details: String) -> AuditEvent<'a> {
        AuditEvent {
            actor_id: Some(&self.person.id),
            subject_id: Some(&self.person.id),
            action,
            client_ip: self.client_ip,
            details,
            ..AuditEvent::default()
        }
    }

    /// The event of a change to how the person signs in, carrying the notice mail.
    fn credential_event(
        &self,
        ctx: &AppContext,
        change: CredentialChange<'_>,
        action: &'static str,
        details: String,
    ) -> AuditEvent<'a> {
        AuditEvent {
            mails: notices::credential_notice(ctx, self.person, change, self.client_ip)
                .into_iter()
                .collect(),
            ..self.event(action, details)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OwnAccountError {
    /// Unlinking the last way to sign in.
    #[error("set a password first")]
    NoPasswordLeft,
    /// The reset link was used or expired meanwhile.
    #[error("the link is no longer valid")]
    LinkNotValid,
    #[error(transparent)]
    Hash(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records a sign-in (by password, or by single sign-on with `how` naming the provider).
pub async fn record_sign_in(
    ctx: &AppContext,
    person_id: &str,
    client_ip: Option<&str>,
    how: String,
) -> Result<(), StoreError> {
    let event = AuditEvent {
        actor_id: Some(person_id),
        subject_id: Some(person_id),
        action: "session.signed_in",
        client_ip,
        details: how,
        ..AuditEvent::default()
    };
    ctx.store.record_audit(&event, ctx.clock.now()).await
}

pub async fn rename(
    ctx: &AppContext,
    me: Me<'_>,
    surname: &PersonName,
    given_name: Option<&PersonName>,
) -> Result<(), StoreError> {
    let name = match given_name {
        Some(given) => format!("{given} {surname}"),
        None => surname.to_string(),
    };
    let receipt = ctx
        .store
        .rename_person(
            &me.person.id,
            surname.as_str(),
            given_name.map(PersonName::as_str),
            me.event("person.renamed", format!("changed their name to {name}")),
            ctx.clock.now(),
        )
        .await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Sets a new password: every session of the person ends (the caller starts a new one for
/// this browser), LDAP gets the new hash, and the person is told.
pub async fn change_password(
    ctx: &AppContext,
    me: Me<'_>,
    password: &NewPassword,
) -> Result<(), OwnAccountError> {
    let hash = ctx.hasher.hash(password).await?;
    let receipt = ctx
        .store
        .set_password(
            &me.person.id,
            &hash,
            me.credential_event(
                ctx,
                CredentialChange::PasswordChanged,
                "password.changed",
                "changed their password; other sessions ended".into(),
            ),
            ctx.clock.now(),
        )
        .await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Sets the password of the person a reset link belongs to, using the link up; returns
/// the person's id.
pub async fn reset_password(
    ctx: &AppContext,
    person: &Person,
    token: &SecretToken,
    password: &NewPassword,
    client_ip: Option<&str>,
) -> Result<String, OwnAccountError> {
    let hash = ctx.hasher.hash(password).await?;
    let (person_id, receipt) = ctx
        .store
        .use_password_reset(
            &token.hash(),
            &hash,
            client_ip,
            notices::credential_notice(ctx, person, CredentialChange::PasswordReset, client_ip),
            ctx.clock.now(),
        )
        .await?
        .ok_or(OwnAccountError::LinkNotValid)?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(person_id)
}

/// Unlinks a single-sign-on identity; only with a password left to sign in with. False
/// when no such identity was linked.
/// Whether `person` may unlink an identity: only with a password left to sign in with.
pub fn check_unlink_identity(person: &Person) -> Result<(), OwnAccountError> {
    if person.password_hash.is_none() {
        return Err(OwnAccountError::NoPasswordLeft);
    }
    Ok(())
}

pub async fn unlink_identity(
    ctx: &AppContext,
    me: Me<'_>,
    issuer: &str,
    subject: &str,
) -> Result<bool, OwnAccountError> {
    check_unlink_identity(me.person)?;
    let removed = ctx
        .store
        .unlink_identity(
            &me.person.id,
            (issuer, subject),
            me.credential_event(
                ctx,
                CredentialChange::IdentityUnlinked { issuer },
                "identity.unlinked",
                format!("unlinked identity {subject} at {issuer}"),
            ),
            ctx.clock.now(),
        )
        .await?;
    if removed {
        ctx.mail_signal.notify_one();
    }
    // Unlinking an identity that is not linked leaves things as asked.
    Ok(true)
}

pub async fn add_key(ctx: &AppContext, me: Me<'_>, key: &SshPublicKey) -> Result<(), AddKeyError> {
    let receipt = ctx
        .store
        .add_key(
            &me.person.id,
            key,
            me.credential_event(
                ctx,
                CredentialChange::KeyAdded {
                    fingerprint: &key.fingerprint,
                },
                "ssh_key.added",
                format!("added {} key {}", key.algorithm, key.fingerprint),
            ),
            ctx.clock.now(),
        )
        .await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Removes one of the person's own keys; false when they have no such key.
pub async fn remove_key(ctx: &AppContext, me: Me<'_>, key_id: &str) -> Result<bool, StoreError> {
    let Some(key) = ctx
        .store
        .keys_of(&me.person.id)
        .await?
        .into_iter()
        .find(|key| key.id == key_id)
    else {
        return Ok(false);
    };
    let removed = ctx
        .store
        .remove_key(
            &me.person.id,
            &key.id,
            me.credential_event(
                ctx,
                CredentialChange::KeyRemoved {
                    fingerprint: &key.fingerprint,
                    by_staff: false,
                },
                "ssh_key.removed",
                format!("removed key {}", key.fingerprint),
            ),
            ctx.clock.now(),
        )
        .await?;
    let Some(receipt) = removed else {
        return Ok(false);
    };
    crate::jobs::apply(ctx, receipt).await;
    Ok(true)
}
