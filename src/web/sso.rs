//! Single sign-on pages: sending the person to the provider and taking them back. Every
//! failure at or from the provider is a clear page, never a 500.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::account::{safe_next, see_other};
use super::error::WebError;
use crate::auth::oidc::{OidcError, PENDING_LOGIN_SECONDS, PendingLogin};
use crate::context::AppContext;
use crate::usecases::own_account;
use crate::usecases::single_sign_on::{SsoRefusal, resolve};
use crate::web::identity;

const PENDING_KEY: &str = "oidc_pending";

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    next: String,
    /// The invitation being accepted with single sign-on (its raw token).
    #[serde(default)]
    invitation: String,
}

fn sso_of(ctx: &AppContext) -> Result<&crate::auth::oidc::SingleSignOn, WebError> {
    ctx.sso.as_deref().ok_or(WebError::NotFound)
}

fn provider_down(name: &str) -> WebError {
    WebError::Unavailable(format!(
        "{name} cannot be reached right now. Sign in with your password, or try again in a few minutes."
    ))
}

/// Sends the person to the provider with a fresh state, nonce and PKCE challenge.
pub async fn start(
    ctx: web::Data<AppContext>,
    session: Session,
    form: web::Form<StartForm>,
) -> Result<HttpResponse, WebError> {
    let sso = sso_of(&ctx)?;
    let next = safe_next(Some(form.next.as_str()).filter(|next| !next.is_empty())).to_string();
    let invitation_id = match form.invitation.trim() {
        "" => None,
        // The same 404/410 pages as the invitation's link gives.
        token => Some(
            super::accept_invitation::open_invitation(&ctx, token)
                .await?
                .id,
        ),
    };
    let (url, pending) = sso
        .start(next, invitation_id, ctx.clock.now())
        .await
        .map_err(|error| {
            tracing::warn!(%error, "single sign-on could not start");
            provider_down(sso.display_name())
        })?;
    session
        .insert(PENDING_KEY, &pending)
        .map_err(|error| WebError::internal(anyhow::anyhow!("session insert: {error}")))?;
    Ok(see_other(&url))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

fn start_again(message: &str) -> WebError {
    WebError::BadRequest(format!(
        "{message} Nothing was changed. Start again from the sign-in page."
    ))
}

/// The provider sends the person back here with a code (or an error).
pub async fn callback(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    session: Session,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, WebError> {
    let sso = sso_of(&ctx)?;
    // Used once: whatever happens next, this attempt is over.
    let pending: Option<PendingLogin> = session.remove_as(PENDING_KEY).and_then(Result::ok);
    let Some(pending) = pending else {
        return Err(start_again(
            "This sign-in was not started in this browser, or it was completed already.",
        ));
    };
    let state_matches = query
        .state
        .as_deref()
        .is_some_and(|state| crate::auth::same_secret(&pending.state, state));
    if !state_matches {
        tracing::info!("single sign-on callback with a wrong state");
        return Err(start_again(
            "This sign-in answer does not belong to the sign-in you started.",
        ));
    }
    if ctx.clock.now() - pending.started_at > PENDING_LOGIN_SECONDS {
        return Err(start_again("This sign-in took too long."));
    }
    if let Some(error) = &query.error {
        tracing::info!(error = %error, "the provider ended the sign-in with an error");
        return Err(if error == "access_denied" {
            WebError::Forbidden(format!(
                "Sign-in at {} was cancelled or refused, so you are not signed in. You can try again, or sign in with your password.",
                sso.display_name()
            ))
        } else {
            start_again(&format!(
                "{} could not sign you in (it answered “{}”).",
                sso.display_name(),
                error.chars().take(64).collect::<String>()
            ))
        });
    }
    let Some(code) = query.code.as_deref().filter(|code| !code.is_empty()) else {
        return Err(start_again("The sign-in answer carried no code."));
    };
    let verified = sso.finish(&pending, code).await.map_err(|error| {
        tracing::warn!(%error, "single sign-on failed");
        match error {
            OidcError::Unreachable(_) | OidcError::Configuration(_) => {
                provider_down(sso.display_name())
            }
            OidcError::CodeRefused(_) => start_again(&format!(
                "{} did not accept this sign-in (it was used already or has expired).",
                sso.display_name()
            )),
            OidcError::Unverified(_) => start_again(&format!(
                "The answer from {} could not be verified.",
                sso.display_name()
            )),
        }
    })?;
    let ip = super::audit_ip(&req, &ctx);
    let signed_in = resolve(
        &ctx,
        &verified,
        pending.invitation_id.as_deref(),
        ip.as_deref(),
    )
    .await
    .map_err(|refusal| refused(sso.display_name(), refusal))?;
    identity::sign_in(&session, &signed_in.person_id)?;
    let how = format!("signed in with {}", sso.display_name());
    own_account::record_sign_in(&ctx, &signed_in.person_id, ip.as_deref(), how).await?;
    if signed_in.joined_organisation.is_some() {
        // Set-up (username, shell) comes next for a new member; `/` sends them there.
        return Ok(see_other("/"));
    }
    if signed_in.joined_site_role {
        return Ok(see_other("/?welcome=1"));
    }
    Ok(see_other(safe_next(Some(&pending.next))))
}

fn refused(provider: &str, refusal: SsoRefusal) -> WebError {
    match refusal {
        SsoRefusal::NoAccount => WebError::Forbidden(format!(
            "There is no account for the identity {provider} gave. Roster does not create accounts on its own: ask your organisation's owner for an invitation, or sign in with your password."
        )),
        SsoRefusal::Locked => WebError::Forbidden(
            "This account is locked. Contact the helpdesk to unlock it.".into(),
        ),
        SsoRefusal::InvitationGone => WebError::Gone {
            title: "Invitation not valid".into(),
            message: "This invitation was used, withdrawn or has expired. Ask the person who invited you for a new one.".into(),
        },
        SsoRefusal::InvitationForAnotherEmail => WebError::Forbidden(format!(
            "This invitation was sent to another email address than the one {provider} gave for you. Sign in there as the invited person, or accept the invitation with a password instead."
        )),
        SsoRefusal::LinkedToAnotherIdentity => WebError::Forbidden(format!(
            "The account with this email address is linked to another identity at {provider}. Sign in with that identity or with your password."
        )),
        SsoRefusal::Store(error) => error.into(),
        SsoRefusal::Hash(error) => error.into(),
    }
}
