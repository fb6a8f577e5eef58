//! Creating invitations: one path for the web forms and `roster admin invite`.

use time::OffsetDateTime;
use time::macros::format_description;

use crate::auth::password::PasswordError;
use crate::context::AppContext;
use crate::domain::{
    Email, EndDate, InvitationMessage, InvitationState, NewPassword, PersonName, Role, SecretToken,
};
use crate::mail::{InvitationMail, MailError};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::invitations::{AcceptError, Acceptance, Created, Invitation};
use crate::store::mail_outbox::QueuedMail;
use crate::store::organisations::Organisation;
use crate::usecases::organisations::grantable_roles;
use crate::usecases::{Actor, queued_mail};

pub struct InvitationRequest<'a> {
    pub email: Email,
    pub surname: PersonName,
    pub given_name: Option<PersonName>,
    pub role: Role,
    pub organisation_id: Option<&'a str>,
    pub organisation_name: Option<&'a str>,
    pub inviter: Actor<'a>,
    /// The inviter may hand out the roles manager and owner (`members.grant_manager`).
    pub may_grant_manager: bool,
    pub client_ip: Option<&'a str>,
    pub ends_on: Option<EndDate>,
    /// The inviter's personal message, shown to the invitee as plain text.
    pub message: Option<InvitationMessage>,
}

pub struct CreatedInvitation {
    pub id: String,
    /// A pending invitation for the same email existed: it was re-sent with this new link
    /// (its old link no longer works) instead of making a second one.
    pub resent: bool,
    /// The activation link. Shown once to the inviter; only its hash is stored.
    pub link: String,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    /// Inviting someone as manager or owner needs `members.grant_manager`.
    #[error("only the organisation's owner can invite owners and managers")]
    RoleNotGrantable,
    #[error("could not generate a random token: {0}")]
    Random(String),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn format_date(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| {
            at.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

pub async fn create_invitation(
    ctx: &AppContext,
    request: InvitationRequest<'_>,
) -> Result<CreatedInvitation, InvitationError> {
    // The same rule as for changing a member's role, whichever door the invitation uses.
    if request.organisation_id.is_some()
        && !grantable_roles(request.may_grant_manager).contains(&request.role)
    {
        return Err(InvitationError::RoleNotGrantable);
    }
    let token = crate::entropy::secret_token()
        .map_err(|error| InvitationError::Random(error.to_string()))?;
    let created_at = ctx.clock.now();
    let expires_at = created_at + i64::from(ctx.settings.security.invitation_ttl_days) * 86_400;
    let greeting_name = crate::domain::full_name(
        request.given_name.as_ref().map(PersonName::as_str),
        request.surname.as_str(),
    );
    let inviter_name = inviter_name(ctx, request.inviter.person_id()).await?;
    let (link, mail) = invitation_mail(
        ctx,
        &token,
        InvitationLetter {
            to: request.email.as_str(),
            greeting_name,
            organisation_name: request.organisation_name,
            inviter_name: inviter_name.as_deref(),
            role: request.role,
            expires_at,
            message: request.message.as_ref().map(InvitationMessage::as_str),
        },
    )?;
    let id = ctx
        .store
        .create_invitation(
            crate::store::invitations::NewInvitation {
                token_hash: &token.hash(),
                email: &request.email,
                surname: &request.surname,
                given_name: request.given_name.as_ref(),
                role: request.role,
                organisation_id: request.organisation_id,
                invited_by: request.inviter.person_id(),
                invited_by_client: request.inviter.client_id(),
                ends_on: request.ends_on.map(EndDate::to_iso).as_deref(),
                message: request.message.as_ref().map(InvitationMessage::as_str),
                expires_at,
                batch_id: None,
                mail,
            },
            AuditEvent {
                actor_id: request.inviter.audit_id(),
                action: "invitation.created",
                organisation_id: request.organisation_id,
                client_ip: request.client_ip,
                details: format!("invited {} as {}", request.email, request.role.as_str()),
                ..AuditEvent::default()
            },
            created_at,
        )
        .await?;
    ctx.mail_signal.notify_one();
    Ok(CreatedInvitation {
        resent: matches!(id, Created::Resent(_)),
        id: id.id().to_string(),
        link,
        expires_at,
    })
}

/// The name the invitee knows the inviter by; `None` for an API client or the command line.
pub(crate) async fn inviter_name(
    ctx: &AppContext,
    person_id: Option<&str>,
) -> Result<Option<String>, StoreError> {
    Ok(match person_id {
        Some(id) => ctx
            .store
            .person_by_id(id)
            .await?
            .map(|person| person.display_name()),
        None => None,
    })
}

/// What an invitation's email says: to whom, from whom, where to, as what, until when.
pub(crate) struct InvitationLetter<'a> {
    pub to: &'a str,
    pub greeting_name: String,
    /// `None` for a site-wide (staff) invitation.
    pub organisation_name: Option<&'a str>,
    pub inviter_name: Option<&'a str>,
    pub role: Role,
    pub expires_at: i64,
    pub message: Option<&'a str>,
}

/// The message carrying the link for `token`, and the link.
pub(crate) fn invitation_mail(
    ctx: &AppContext,
    token: &SecretToken,
    letter: InvitationLetter<'_>,
) -> Result<(String, QueuedMail), MailError> {
    let link = ctx.public_link(&format!("/invitations/{}", token.expose()));
    let expires_in = match (
        crate::domain::day_of(letter.expires_at),
        crate::domain::day_of(ctx.clock.now()),
    ) {
        (Some(day), Some(today)) => crate::domain::relative_day(day, today),
        _ => String::new(),
    };
    let mail = InvitationMail {
        greeting_name: letter.greeting_name,
        organisation: letter.organisation_name.map(str::to_string),
        inviter: letter.inviter_name.map(str::to_string),
        role_label: crate::domain::role_phrase(letter.role).to_string(),
        link: link.clone(),
        expires: format_date(letter.expires_at),
        expires_in,
        message: letter.message.map(str::to_string),
    };
    Ok((link, queued_mail(letter.to, mail.render()?)))
}

/// Issues a new token for a pending invitation of `organisation` (the old link dies) and
/// emails it. `None` when the invitation is not pending in this organisation.
pub async fn resend_invitation(
    ctx: &AppContext,
    organisation: &Organisation,
    invitation_id: &str,
    actor: Actor<'_>,
    client_ip: Option<&str>,
) -> Result<Option<CreatedInvitation>, InvitationError> {
    let token = crate::entropy::secret_token()
        .map_err(|error| InvitationError::Random(error.to_string()))?;
    let sent_at = ctx.clock.now();
    let expires_at = sent_at + i64::from(ctx.settings.security.invitation_ttl_days) * 86_400;
    let Some(current) = ctx
        .store
        .invitation_in_organisation(&organisation.id, invitation_id)
        .await?
    else {
        return Ok(None);
    };
    let greeting_name = crate::domain::full_name(current.given_name.as_deref(), &current.surname);
    // The invitation is still from whoever sent it first, with their message.
    let inviter_name = inviter_name(ctx, current.invited_by.as_deref()).await?;
    let (link, mail) = invitation_mail(
        ctx,
        &token,
        InvitationLetter {
            to: &current.email,
            greeting_name,
            organisation_name: Some(&organisation.name),
            inviter_name: inviter_name.as_deref(),
            role: current.role,
            expires_at,
            message: current.message.as_deref(),
        },
    )?;
    let Some(invitation) = ctx
        .store
        .resend_invitation(
            &organisation.id,
            invitation_id,
            &token.hash(),
            expires_at,
            AuditEvent {
                actor_id: actor.audit_id(),
                action: "invitation.resent",
                client_ip,
                details: "sent a new link; the previous one no longer works".into(),
                mails: vec![QueuedMail {
                    invitation_id: Some(current.id.clone()),
                    ..mail
                }],
                ..AuditEvent::default()
            },
            sent_at,
        )
        .await?
    else {
        return Ok(None);
    };
    ctx.mail_signal.notify_one();
    Ok(Some(CreatedInvitation {
        id: invitation.id,
        resent: true,
        link,
        expires_at,
    }))
}

/// Withdraws a pending invitation of `organisation_id`; false when it is not pending (used,
/// withdrawn, or not this organisation's).
pub async fn revoke_invitation(
    ctx: &AppContext,
    actor: Actor<'_>,
    client_ip: Option<&str>,
    organisation_id: &str,
    invitation_id: &str,
) -> Result<bool, StoreError> {
    ctx.store
        .revoke_invitation(
            organisation_id,
            invitation_id,
            actor.person_id(),
            AuditEvent {
                actor_id: actor.audit_id(),
                action: "invitation.revoked",
                client_ip,
                details: "withdrew the invitation".into(),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await
}

/// Who accepts an invitation.
#[derive(Clone, Copy)]
pub enum Acceptor<'a> {
    /// A newcomer, whose account is made now: with the password they chose, or none when
    /// they came through single sign-on (they may set one for LDAP later).
    Newcomer { password: Option<&'a NewPassword> },
    /// An account that already exists (signed in, or known to single sign-on).
    Existing { person_id: &'a str },
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptInvitationError {
    #[error(transparent)]
    Accept(#[from] AcceptError),
    #[error(transparent)]
    Hash(#[from] PasswordError),
}

/// Where an invitation stands now: only an `Open` one can be accepted.
pub fn invitation_state(ctx: &AppContext, invitation: &Invitation) -> InvitationState {
    InvitationState::of(invitation.status, invitation.expires_at, ctx.clock.now())
}

/// Accepts an invitation, whether by password, by an existing account or through single
/// sign-on: the account (when new), the membership or role, the invitation marked used and
/// the audit event in one transaction; the organisation's group follows in LDAP. Returns
/// the person's id.
pub async fn accept_invitation(
    ctx: &AppContext,
    invitation: &Invitation,
    acceptor: Acceptor<'_>,
    client_ip: Option<&str>,
) -> Result<String, AcceptInvitationError> {
    if invitation_state(ctx, invitation) != InvitationState::Open {
        return Err(AcceptError::NoLongerOpen.into());
    }
    let (person_id, receipt) = match acceptor {
        Acceptor::Newcomer { password } => {
            let hash = match password {
                Some(password) => Some(ctx.hasher.hash(password).await?),
                None => None,
            };
            ctx.store
                .accept_invitation(
                    Acceptance {
                        invitation_id: &invitation.id,
                        password_hash: hash.as_deref(),
                        client_ip,
                    },
                    ctx.clock.now(),
                )
                .await?
        }
        Acceptor::Existing { person_id } => {
            let receipt = ctx
                .store
                .accept_invitation_as(&invitation.id, person_id, client_ip, ctx.clock.now())
                .await?;
            (person_id.to_string(), receipt)
        }
    };
    tracing::info!(person = %person_id, invitation = %invitation.id, "invitation accepted");
    crate::jobs::apply(ctx, receipt).await;
    Ok(person_id)
}
