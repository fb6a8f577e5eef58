//! Which account a verified single-sign-on identity signs in as. Never creates an account
//! on its own: only a linked identity, an existing account whose email matches the verified
//! claim, or an invitation addressed to that email lead anywhere.

use crate::auth::oidc::VerifiedIdentity;
use crate::context::AppContext;
use crate::domain::Email;
use crate::domain::InvitationState;
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::invitations::{AcceptError, Invitation};
use crate::store::people::{AccountStatus, Person};
use crate::usecases::invitations::{
    AcceptInvitationError, Acceptor, accept_invitation, invitation_state,
};
use crate::usecases::notices::{self, CredentialChange};

/// Why an identity does not sign in.
#[derive(Debug, thiserror::Error)]
pub enum SsoRefusal {
    #[error("no account for this identity")]
    NoAccount,
    #[error("the account is locked")]
    Locked,
    #[error("the invitation is no longer open")]
    InvitationGone,
    #[error("the invitation is addressed to another email")]
    InvitationForAnotherEmail,
    /// The matching account is already linked to another identity at this provider.
    #[error("the account is linked to another identity")]
    LinkedToAnotherIdentity,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cannot happen without a password to hash; kept so no error is dropped.
    #[error(transparent)]
    Hash(#[from] crate::auth::password::PasswordError),
}

/// Where the person ends up.
pub struct SsoSignIn {
    pub person_id: String,
    /// The organisation whose invitation was accepted just now, if any.
    pub joined_organisation: Option<String>,
    /// An invitation into a site role was accepted.
    pub joined_site_role: bool,
}

/// Resolves the identity to an account, linking it and accepting the invitation as needed.
pub async fn resolve(
    ctx: &AppContext,
    identity: &VerifiedIdentity,
    invitation_id: Option<&str>,
    client_ip: Option<&str>,
) -> Result<SsoSignIn, SsoRefusal> {
    let key = (identity.issuer.as_str(), identity.subject.as_str());
    let invitation = match invitation_id {
        Some(id) => Some(open_invitation(ctx, id).await?),
        None => None,
    };
    let linked = ctx
        .store
        .person_for_identity(key.0, key.1, ctx.clock.now())
        .await?;
    let person = match linked {
        Some(person_id) => ctx
            .store
            .person_by_id(&person_id)
            .await?
            .ok_or(SsoRefusal::NoAccount)?,
        None => {
            let claimed = identity
                .match_value
                .as_deref()
                .and_then(|value| Email::parse(value).ok());
            if let Some(invitation) = &invitation {
                let addressed_to_claim = claimed
                    .as_ref()
                    .is_some_and(|email| email.normalized() == invitation.email.to_lowercase());
                if !addressed_to_claim {
                    return Err(SsoRefusal::InvitationForAnotherEmail);
                }
            }
            let Some(claimed) = claimed else {
                return Err(SsoRefusal::NoAccount);
            };
            match ctx.store.person_by_email(&claimed).await? {
                Some(person) => {
                    let other_link = ctx
                        .store
                        .identities_of(&person.id)
                        .await?
                        .iter()
                        .any(|link| link.issuer == identity.issuer);
                    if other_link {
                        return Err(SsoRefusal::LinkedToAnotherIdentity);
                    }
                    person
                }
                None => match &invitation {
                    // A newcomer accepting their invitation: the account is made now,
                    // without a password (they may set one for the computers later).
                    Some(invitation) => {
                        let person_id = accept_new(ctx, invitation, client_ip).await?;
                        ctx.store
                            .person_by_id(&person_id)
                            .await?
                            .ok_or(SsoRefusal::NoAccount)?
                    }
                    None => return Err(SsoRefusal::NoAccount),
                },
            }
        }
    };
    if person.status != AccountStatus::Active {
        return Err(SsoRefusal::Locked);
    }
    link(ctx, &person, identity, client_ip).await?;
    let mut joined_organisation = None;
    let mut joined_site_role = false;
    if let Some(invitation) = &invitation
        && invitation.status == crate::domain::InvitationStatus::Pending
    {
        let acceptor = Acceptor::Existing {
            person_id: &person.id,
        };
        match accept_invitation(ctx, invitation, acceptor, client_ip).await {
            Ok(_)
            | Err(AcceptInvitationError::Accept(
                AcceptError::AlreadyMember | AcceptError::AccountExists,
            )) => {}
            Err(AcceptInvitationError::Accept(AcceptError::NoLongerOpen)) => {
                // Accepted by `accept_new` just now, or by someone else meanwhile: the
                // membership is what matters, checked below by the caller's redirect.
            }
            Err(AcceptInvitationError::Accept(AcceptError::Store(error))) => {
                return Err(error.into());
            }
            Err(AcceptInvitationError::Hash(error)) => {
                return Err(error.into());
            }
        }
        match &invitation.organisation_id {
            Some(organisation_id) => joined_organisation = Some(organisation_id.clone()),
            None => joined_site_role = true,
        }
    }
    Ok(SsoSignIn {
        person_id: person.id,
        joined_organisation,
        joined_site_role,
    })
}

async fn open_invitation(ctx: &AppContext, id: &str) -> Result<Invitation, SsoRefusal> {
    let invitation = ctx
        .store
        .invitation_by_id(id)
        .await?
        .ok_or(SsoRefusal::InvitationGone)?;
    if invitation_state(ctx, &invitation) == InvitationState::Open {
        Ok(invitation)
    } else {
        Err(SsoRefusal::InvitationGone)
    }
}

async fn accept_new(
    ctx: &AppContext,
    invitation: &Invitation,
    client_ip: Option<&str>,
) -> Result<String, SsoRefusal> {
    let acceptor = Acceptor::Newcomer { password: None };
    accept_invitation(ctx, invitation, acceptor, client_ip)
        .await
        .map_err(|error| match error {
            AcceptInvitationError::Accept(AcceptError::Store(error)) => error.into(),
            AcceptInvitationError::Accept(_) => SsoRefusal::InvitationGone,
            AcceptInvitationError::Hash(error) => error.into(),
        })
}

async fn link(
    ctx: &AppContext,
    person: &Person,
    identity: &VerifiedIdentity,
    client_ip: Option<&str>,
) -> Result<(), StoreError> {
    let known = ctx
        .store
        .identities_of(&person.id)
        .await?
        .iter()
        .any(|link| link.issuer == identity.issuer && link.subject == identity.subject);
    if known {
        return Ok(());
    }
    ctx.store
        .link_identity(
            &person.id,
            (&identity.issuer, &identity.subject),
            identity.email.as_deref(),
            AuditEvent {
                actor_id: Some(&person.id),
                action: "identity.linked",
                client_ip,
                details: format!(
                    "linked single sign-on identity {} at {}",
                    identity.subject, identity.issuer
                ),
                mails: notices::credential_notice(
                    ctx,
                    person,
                    CredentialChange::IdentityLinked {
                        issuer: &identity.issuer,
                    },
                    client_ip,
                )
                .into_iter()
                .collect(),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await?;
    ctx.mail_signal.notify_one();
    Ok(())
}
