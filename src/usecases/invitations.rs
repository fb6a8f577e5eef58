//! Creating invitations: one path for the web forms and `roster admin invite`.

use time::OffsetDateTime;
use time::macros::format_description;

use crate::context::{AppContext, now};
use crate::domain::{Email, PersonName, Role, SecretToken};
use crate::mail::{InvitationMail, MailError};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;

pub struct InvitationRequest<'a> {
    pub email: Email,
    pub surname: PersonName,
    pub given_name: Option<PersonName>,
    pub role: Role,
    pub organisation_id: Option<&'a str>,
    pub organisation_name: Option<&'a str>,
    pub invited_by: Option<&'a str>,
    pub client_ip: Option<&'a str>,
}

pub struct CreatedInvitation {
    pub id: String,
    /// The activation link. Shown once to the inviter; only its hash is stored.
    pub link: String,
    pub expires_at: i64,
    /// Whether the email went out; the invitation stands either way.
    pub mail: Result<(), MailError>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    #[error("could not generate a random token: {0}")]
    Random(String),
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
    let token =
        SecretToken::generate().map_err(|error| InvitationError::Random(error.to_string()))?;
    let created_at = now();
    let expires_at = created_at + i64::from(ctx.settings.security.invitation_ttl_days) * 86_400;
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
                invited_by: request.invited_by,
                expires_at,
            },
            AuditEvent {
                actor_id: request.invited_by,
                action: "invitation.created",
                organisation_id: request.organisation_id,
                client_ip: request.client_ip,
                details: format!("invited {} as {}", request.email, request.role.as_str()),
                ..AuditEvent::default()
            },
            created_at,
        )
        .await?;
    let link = ctx.public_link(&format!("/invitations/{}", token.expose()));
    let greeting_name = match &request.given_name {
        Some(given) => format!("{given} {}", request.surname),
        None => request.surname.to_string(),
    };
    let mail = InvitationMail {
        greeting_name,
        invited_to: request.organisation_name.unwrap_or("Roster").to_string(),
        role_label: request.role.label().to_lowercase(),
        link: link.clone(),
        expires: format_date(expires_at),
    };
    let sent = match mail.render() {
        Ok(rendered) => ctx.mailer.send(request.email.as_str(), rendered).await,
        Err(error) => Err(error),
    };
    if let Err(error) = &sent {
        tracing::warn!(invitation = %id, %error, "invitation email not sent");
    }
    Ok(CreatedInvitation {
        id,
        link,
        expires_at,
        mail: sent,
    })
}
