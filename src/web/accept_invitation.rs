//! The invited person's side: opening an invitation link and activating the account it
//! offers, or joining with an existing account. (The PI's side is `orgs::invitations`.)

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::account::see_other;
use super::error::WebError;
use super::pages::{FormErrors, Layout, NewPasswordForm, filters, render, render_with_status};
use crate::context::AppContext;
use crate::domain::{InvitationState, NewPassword, SecretToken};
use crate::store::invitations::{AcceptError, Invitation};
use crate::usecases::invitations::{self, AcceptInvitationError, Acceptor};
use crate::web::identity::SignedIn;
use crate::web::{csrf, identity};

/// Who invited the person, where to, as what, until when, and what they wrote: shown on
/// both invitation pages (`invitations/summary.html`).
struct InvitationSummary {
    inviter: Option<String>,
    /// `None` for a site-wide (staff) role.
    organisation: Option<String>,
    role_phrase: &'static str,
    expires: i64,
    /// The clock's time, for relative dates.
    now: i64,
    message: Option<String>,
}

impl InvitationSummary {
    fn invited_to(&self) -> &str {
        self.organisation.as_deref().unwrap_or("Roster")
    }
}

async fn invitation_summary(
    ctx: &AppContext,
    invitation: &Invitation,
) -> Result<InvitationSummary, WebError> {
    let organisation = match &invitation.organisation_id {
        Some(id) => Some(
            ctx.store
                .organisation(id)
                .await?
                .map(|o| o.name)
                .unwrap_or_else(|| "the organisation".into()),
        ),
        None => None,
    };
    Ok(InvitationSummary {
        inviter: invitations::inviter_name(ctx, invitation.invited_by.as_deref()).await?,
        organisation,
        role_phrase: crate::domain::role_phrase(invitation.role),
        expires: invitation.expires_at,
        now: ctx.clock.now(),
        message: invitation.message.clone(),
    })
}

#[derive(Template)]
#[template(path = "invitations/accept.html")]
struct AcceptPage<'a> {
    layout: Layout,
    action: String,
    greeting_name: String,
    summary: InvitationSummary,
    email: &'a str,
    errors: FormErrors,
    /// The invitation's raw token, for the single-sign-on button.
    token: &'a str,
    sso_name: Option<String>,
}

fn unknown_link() -> WebError {
    tracing::info!("unknown invitation link opened");
    WebError::NotFoundWith {
        title: "Invitation link not valid".into(),
        message: "This invitation link is not valid. Check that you copied the whole link from the email, \
                  or ask the person who invited you to send it again."
            .into(),
    }
}

/// Looks up the invitation a link names and refuses it, with a page saying why, unless
/// it can still be used. Unknown links are 404; used, revoked and expired ones are 410.
pub(super) async fn open_invitation(
    ctx: &AppContext,
    raw_token: &str,
) -> Result<Invitation, WebError> {
    let token = SecretToken::parse(raw_token).ok_or_else(unknown_link)?;
    let invitation = ctx
        .store
        .invitation_by_token(&token.hash())
        .await?
        .ok_or_else(unknown_link)?;
    let gone = |title: &str, message: &str| WebError::Gone {
        title: title.into(),
        message: message.into(),
    };
    match invitations::invitation_state(ctx, &invitation) {
        InvitationState::Open => Ok(invitation),
        InvitationState::Used => Err(gone(
            "Invitation already used",
            "This invitation has already been used to activate an account. Sign in with that account instead.",
        )),
        InvitationState::Revoked => Err(gone(
            "Invitation withdrawn",
            "This invitation was withdrawn by the person who sent it. Ask them for a new one if you still need access.",
        )),
        InvitationState::Expired => Err(gone(
            "Invitation expired",
            "This invitation has expired. Ask the person who invited you to send a new one.",
        )),
    }
}

async fn accept_page<'a>(
    ctx: &AppContext,
    req: &HttpRequest,
    session: &Session,
    raw_token: &'a str,
    invitation: &'a Invitation,
    errors: FormErrors,
) -> Result<AcceptPage<'a>, WebError> {
    Ok(AcceptPage {
        layout: Layout {
            user_name: None,
            csrf_token: csrf::form_token(req, session)?,
            ..Layout::default()
        },
        action: format!("/invitations/{raw_token}"),
        greeting_name: match &invitation.given_name {
            Some(given) => format!("{given} {}", invitation.surname),
            None => invitation.surname.clone(),
        },
        summary: invitation_summary(ctx, invitation).await?,
        email: &invitation.email,
        token: raw_token,
        sso_name: ctx.sso.as_ref().map(|sso| sso.display_name().to_string()),
        errors,
    })
}

#[derive(Template)]
#[template(path = "invitations/existing.html")]
struct ExistingAccountPage<'a> {
    layout: Layout,
    summary: InvitationSummary,
    email: &'a str,
    signed_in_as_invitee: bool,
    action: String,
    next_encoded: String,
}

pub async fn show(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    session: Session,
    token: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let invitation = open_invitation(&ctx, &token).await?;
    let Some(invitee) = existing_account(&ctx, &invitation).await? else {
        return render(
            &accept_page(
                &ctx,
                &req,
                &session,
                &token,
                &invitation,
                FormErrors::default(),
            )
            .await?,
        );
    };
    // Someone who already has an account only joins: no new password or username.
    let signed_in = identity::signed_in_person_id(&session);
    let signed_in_name = match &signed_in {
        Some(id) => ctx
            .store
            .person_by_id(id)
            .await?
            .map(|person| person.display_name()),
        None => None,
    };
    render(&ExistingAccountPage {
        layout: Layout {
            user_name: signed_in_name,
            csrf_token: csrf::form_token(&req, &session)?,
            ..Layout::default()
        },
        summary: invitation_summary(&ctx, &invitation).await?,
        email: &invitation.email,
        signed_in_as_invitee: signed_in.as_deref() == Some(invitee.id.as_str()),
        action: format!("/invitations/{}/join", token.as_str()),
        next_encoded: super::pages::query_value(&format!("/invitations/{}", token.as_str())),
    })
}

/// The account the invitation's email already belongs to, if any.
async fn existing_account(
    ctx: &AppContext,
    invitation: &Invitation,
) -> Result<Option<crate::store::people::Person>, WebError> {
    let Ok(email) = crate::domain::Email::parse(&invitation.email) else {
        return Ok(None);
    };
    Ok(ctx.store.person_by_email(&email).await?)
}

/// Accepting with an existing account: only the membership (or role) is added.
pub async fn join(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    token: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let invitation = open_invitation(&ctx, &token).await?;
    let invitee = existing_account(&ctx, &invitation).await?;
    if invitee.as_ref().map(|person| person.id.as_str()) != Some(user.person.id.as_str()) {
        return Err(WebError::Forbidden(
            "This invitation is for another account. Sign in as the person it was sent to.".into(),
        ));
    }
    let client_ip = super::audit_ip(&req, &ctx);
    let acceptor = Acceptor::Existing {
        person_id: &user.person.id,
    };
    invitations::accept_invitation(&ctx, &invitation, acceptor, client_ip.as_deref())
        .await
        .map_err(|error| match error {
            AcceptInvitationError::Accept(AcceptError::NoLongerOpen) => WebError::Gone {
                title: "Invitation already used".into(),
                message: "This invitation was used or withdrawn a moment ago.".into(),
            },
            AcceptInvitationError::Accept(AcceptError::AlreadyMember) => {
                WebError::Conflict("You are already a member.".into())
            }
            AcceptInvitationError::Accept(AcceptError::AccountExists) => {
                WebError::Conflict("You already have this role.".into())
            }
            AcceptInvitationError::Accept(AcceptError::Store(error)) => WebError::internal(error),
            AcceptInvitationError::Hash(error) => error.into(),
        })?;
    match invitation.organisation_id {
        Some(organisation_id) => Ok(see_other(&format!("/orgs/{organisation_id}"))),
        None => Ok(see_other("/")),
    }
}

pub async fn accept(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    session: Session,
    token: web::Path<String>,
    form: web::Form<NewPasswordForm>,
) -> Result<HttpResponse, WebError> {
    let invitation = open_invitation(&ctx, &token).await?;
    let words = crate::domain::personal_words(
        &invitation.surname,
        invitation.given_name.as_deref(),
        &invitation.email,
        None,
    );
    let context: Vec<&str> = words.iter().map(String::as_str).collect();
    let password = match NewPassword::parse(&form.password, &form.password_confirmation, &context) {
        Ok(password) => password,
        Err(error) => {
            let mut errors = FormErrors::default();
            errors.add(error);
            return render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &accept_page(&ctx, &req, &session, &token, &invitation, errors).await?,
            );
        }
    };
    let client_ip = super::audit_ip(&req, &ctx);
    let acceptor = Acceptor::Newcomer {
        password: Some(&password),
    };
    let person_id =
        invitations::accept_invitation(&ctx, &invitation, acceptor, client_ip.as_deref())
            .await
            .map_err(|error| match error {
                AcceptInvitationError::Accept(AcceptError::NoLongerOpen) => WebError::Gone {
                    title: "Invitation already used".into(),
                    message: "This invitation was used or withdrawn a moment ago. Sign in if the account is yours.".into(),
                },
                AcceptInvitationError::Accept(AcceptError::AccountExists) => WebError::Conflict(
                    "An account with this email address already exists. Sign in with it instead."
                        .into(),
                ),
                AcceptInvitationError::Accept(AcceptError::AlreadyMember) => {
                    WebError::Conflict("You are already a member.".into())
                }
                AcceptInvitationError::Accept(AcceptError::Store(error)) => {
                    WebError::internal(error)
                }
                AcceptInvitationError::Hash(error) => error.into(),
            })?;
    identity::sign_in(&session, &person_id)?;
    // Members go on to choose their username; staff invitations are done here.
    if invitation.organisation_id.is_some() {
        return Ok(see_other("/account/setup"));
    }
    Ok(see_other("/?welcome=1"))
}
