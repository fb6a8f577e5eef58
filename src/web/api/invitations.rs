//! `/api/v1/orgs/{short}/invitations`: listing, sending, resending and withdrawing
//! invitations. The link goes to the invited person by email; the API never returns it.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::ItemError;
use super::{ApiCaller, ApiError, json_with_tag, rfc3339};
use crate::context::AppContext;
use crate::domain::{Email, EndDate, InvitationMessage, Permission, PersonName, Role};
use crate::store::invitations::Invitation;
use crate::store::organisations::Organisation;
use crate::usecases::invitations::{
    InvitationError, InvitationRequest, create_invitation, invitation_state, resend_invitation,
    revoke_invitation,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationBody {
    pub id: String,
    pub email: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub role: String,
    pub end_date: Option<String>,
    /// `pending`, `expired`, `revoked` or `accepted`.
    pub status: String,
    /// RFC 3339.
    pub expires_at: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<InvitationBody>,
}

fn body_of(ctx: &AppContext, invitation: &Invitation) -> InvitationBody {
    InvitationBody {
        id: invitation.id.clone(),
        email: invitation.email.clone(),
        surname: invitation.surname.clone(),
        given_name: invitation.given_name.clone(),
        role: invitation.role.as_str().into(),
        end_date: invitation.ends_on.clone(),
        status: invitation_state(ctx, invitation).label().into(),
        expires_at: rfc3339(invitation.expires_at),
        created_at: rfc3339(invitation.created_at),
    }
}

#[utoipa::path(
    get, path = "/api/v1/orgs/{short}/invitations", tag = "invitations",
    params(("short" = String, Path)),
    responses((status = 200, body = InvitationList)),
    security(("bearer" = ["invitations.manage"]))
)]
pub async fn list(
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    short: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let organisation = caller
        .organisation(&ctx, &short, Permission::ManageInvitations)
        .await?;
    let invitations = ctx
        .store
        .invitations_of_organisation(&organisation.id)
        .await?
        .iter()
        .map(|listed| body_of(&ctx, &listed.invitation))
        .collect();
    Ok(json_with_tag(
        StatusCode::OK,
        &InvitationList { invitations },
        None,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitationBody {
    pub email: String,
    pub surname: String,
    pub given_name: Option<String>,
    /// `member` (default), `manager` or `owner`.
    pub role: Option<String>,
    /// YYYY-MM-DD: when the membership ends.
    pub end_date: Option<String>,
    /// A personal message from the inviter (at most 1,000 characters, plain text; line
    /// breaks and tabs kept, no other control characters), shown in the email and on the
    /// invitation page.
    #[schema(max_length = 1000)]
    pub message: Option<String>,
}

fn field_error(field: &str, message: String) -> ItemError {
    ItemError {
        index: 0,
        field: field.into(),
        message,
    }
}

/// One invitation (`POST /api/v1/orgs/{short}/invitations` with one person; the route and
/// its batches are in `invitation_batch`).
pub(super) async fn create_one(
    ctx: &AppContext,
    caller: &ApiCaller,
    organisation: &Organisation,
    body: NewInvitationBody,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let email = Email::parse(&body.email)
        .map_err(|error| errors.push(field_error("email", error.message)))
        .ok();
    let surname = PersonName::parse("surname", &body.surname)
        .map_err(|error| errors.push(field_error("surname", error.message)))
        .ok();
    let given_name =
        PersonName::parse_optional("given_name", body.given_name.as_deref().unwrap_or(""))
            .map_err(|error| errors.push(field_error("given_name", error.message)))
            .ok();
    // Whether this client may invite managers and owners is the use case's to decide.
    let role = Role::parse(body.role.as_deref().unwrap_or("member"))
        .filter(|role| Role::ORGANISATION_ROLES.contains(role));
    if role.is_none() {
        errors.push(field_error(
            "role",
            "Use one of member, manager or owner.".into(),
        ));
    }
    let ends_on =
        EndDate::parse_optional(body.end_date.as_deref().unwrap_or(""), ctx.clock.today())
            .map_err(|error| errors.push(field_error("end_date", error.message)))
            .ok();
    let message =
        InvitationMessage::parse_optional("message", body.message.as_deref().unwrap_or(""))
            .map_err(|error| errors.push(field_error("message", error.message)))
            .ok();
    let (Some(email), Some(surname), Some(given_name), Some(role), Some(ends_on), Some(message)) =
        (email, surname, given_name, role, ends_on, message)
    else {
        return Err(ApiError::Unprocessable {
            detail: "The invitation has invalid fields; nothing was sent.".into(),
            errors,
        });
    };
    let created = create_invitation(
        ctx,
        InvitationRequest {
            email,
            surname,
            given_name,
            role,
            organisation_id: Some(&organisation.id),
            organisation_name: Some(&organisation.name),
            inviter: caller.org_actor().actor,
            may_grant_manager: caller.org_actor().may_grant_manager,
            client_ip: caller.client_ip.as_deref(),
            ends_on,
            message,
        },
    )
    .await
    .map_err(|error| match error {
        InvitationError::RoleNotGrantable => ApiError::Unprocessable {
            detail: "The invitation has invalid fields; nothing was sent.".into(),
            errors: vec![field_error("role", error.to_string())],
        },
        other => ApiError::internal(other),
    })?;
    let invitation = find(ctx, organisation, &created.id).await?;
    let location = format!(
        "/api/v1/orgs/{}/invitations/{}",
        organisation.short_name, invitation.id
    );
    let status = if created.resent {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status)
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body_of(ctx, &invitation)))
}

async fn find(
    ctx: &AppContext,
    organisation: &Organisation,
    invitation_id: &str,
) -> Result<Invitation, ApiError> {
    ctx.store
        .invitation_in_organisation(&organisation.id, invitation_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// 404 for an invitation of another organisation, 409 for one no longer pending.
async fn not_pending(
    ctx: &AppContext,
    organisation: &Organisation,
    invitation_id: &str,
) -> ApiError {
    match find(ctx, organisation, invitation_id).await {
        Ok(_) => ApiError::Conflict(
            "This invitation was already accepted or withdrawn; it cannot be changed.".into(),
        ),
        Err(error) => error,
    }
}

#[utoipa::path(
    post, path = "/api/v1/orgs/{short}/invitations/{id}/resend", tag = "invitations",
    params(("short" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = InvitationBody), (status = 404), (status = 409)),
    security(("bearer" = ["invitations.manage"]))
)]
pub async fn resend(
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (short, invitation_id) = path.into_inner();
    let organisation = caller
        .organisation(&ctx, &short, Permission::ManageInvitations)
        .await?;
    let resent = resend_invitation(
        &ctx,
        &organisation,
        &invitation_id,
        caller.org_actor().actor,
        caller.client_ip.as_deref(),
    )
    .await
    .map_err(ApiError::internal)?;
    if resent.is_none() {
        return Err(not_pending(&ctx, &organisation, &invitation_id).await);
    }
    let invitation = find(&ctx, &organisation, &invitation_id).await?;
    Ok(json_with_tag(
        StatusCode::OK,
        &body_of(&ctx, &invitation),
        None,
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/orgs/{short}/invitations/{id}", tag = "invitations",
    params(("short" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = ["invitations.manage"]))
)]
pub async fn withdraw(
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (short, invitation_id) = path.into_inner();
    let organisation = caller
        .organisation(&ctx, &short, Permission::ManageInvitations)
        .await?;
    let revoked = revoke_invitation(
        &ctx,
        caller.org_actor().actor,
        caller.client_ip.as_deref(),
        &organisation.id,
        &invitation_id,
    )
    .await?;
    if !revoked {
        return Err(not_pending(&ctx, &organisation, &invitation_id).await);
    }
    Ok(HttpResponse::NoContent().finish())
}
