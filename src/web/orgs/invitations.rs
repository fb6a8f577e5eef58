//! The PI's side of invitations: sending, listing, resending and withdrawing them.

use super::*;
use crate::domain::InvitationMessage;
use crate::usecases::invitations::InvitationError;
use crate::web::confirm::Confirmation;

struct InvitationRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    state: &'static str,
    invited_by: String,
    sent: i64,
    expires: i64,
    ends_on: String,
    open: bool,
    /// Where its latest email stands: queued, sent or failed ("" before the mail outbox).
    delivery: &'static str,
    /// Why it failed (the mail server's answer), or why it still waits.
    delivery_reason: String,
}

fn invitation_row(listed: ListedInvitation, now: i64) -> InvitationRow {
    use crate::domain::InvitationState;
    let invitation = listed.invitation;
    let state = InvitationState::of(invitation.status, invitation.expires_at, now);
    InvitationRow {
        name: match &invitation.given_name {
            Some(given) => format!("{given} {}", invitation.surname),
            None => invitation.surname.clone(),
        },
        role: invitation.role.label(),
        state: state.label(),
        open: matches!(state, InvitationState::Open | InvitationState::Expired),
        invited_by: listed
            .invited_by_name
            .unwrap_or_else(|| "command line".into()),
        sent: invitation.sent_at.unwrap_or(invitation.created_at),
        expires: invitation.expires_at,
        ends_on: invitation.ends_on.unwrap_or_default(),
        delivery: listed.delivery.as_ref().map_or("", |d| d.state.label()),
        delivery_reason: listed.delivery.and_then(|d| d.reason).unwrap_or_default(),
        email: invitation.email,
        id: invitation.id,
    }
}

/// The link just created, shown once (only its hash is stored).
pub(super) struct FreshLink {
    email: String,
    link: String,
    resent: bool,
}

#[derive(Template)]
#[template(path = "orgs/invitations.html")]
pub(super) struct InvitationsPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    notice: Option<String>,
    rows: Vec<InvitationRow>,
    roles: Vec<Role>,
    errors: FormErrors,
    form: InviteForm,
    fresh: Option<FreshLink>,
    upload: SheetUpload,
    /// The clock's time, for relative dates.
    now: i64,
}

#[derive(Deserialize, Default)]
pub struct InviteForm {
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    ends_on: String,
    #[serde(default)]
    message: String,
}

/// What the invitations page shows besides the list: a notice, the form (with its errors)
/// and a link just made.
#[derive(Default)]
pub(super) struct InvitationsView {
    pub(super) notice: Option<String>,
    pub(super) errors: FormErrors,
    pub(super) form: InviteForm,
    pub(super) fresh: Option<FreshLink>,
    pub(super) upload: SheetUpload,
}

/// The spreadsheet form shown again after a refused upload: each problem beside its field,
/// and the message as typed (a browser cannot refill the file).
#[derive(Default)]
pub(super) struct SheetUpload {
    pub(super) file_error: Option<String>,
    pub(super) message: String,
    pub(super) message_error: Option<String>,
}

pub(super) async fn invitations_page<'a>(
    ctx: &AppContext,
    user: &SignedIn,
    organisation: &'a Organisation,
    granted: &Granted,
    view: InvitationsView,
) -> Result<InvitationsPage<'a>, WebError> {
    let at = ctx.clock.now();
    Ok(InvitationsPage {
        layout: Layout::for_user(user)?,
        nav: org_nav(granted, organisation, "invitations"),
        rows: ctx
            .store
            .invitations_of_organisation(&organisation.id)
            .await?
            .into_iter()
            .map(|listed| invitation_row(listed, at))
            .collect(),
        roles: grantable_roles(granted),
        organisation,
        notice: view.notice,
        errors: view.errors,
        form: view.form,
        fresh: view.fresh,
        upload: view.upload,
        now: at,
    })
}

/// The invitations page's query: a notice after a change, and the form's surname and
/// email filled in (from a directory search that found nobody, say).
#[derive(Deserialize)]
pub struct InvitationsQuery {
    done: Option<String>,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    email: String,
}

/// A value from the address put into a form field: what a field could hold, no more.
fn prefill(value: &str) -> String {
    value
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(254)
        .collect()
}

pub async fn invitations(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<InvitationsQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ManageInvitations).await?;
    let notice = notice(&user, query.done.as_deref());
    let form = InviteForm {
        surname: prefill(&query.surname),
        email: prefill(&query.email),
        ..InviteForm::default()
    };
    render(
        &invitations_page(
            &ctx,
            &user,
            &organisation,
            &granted,
            InvitationsView {
                notice,
                form,
                ..InvitationsView::default()
            },
        )
        .await?,
    )
}

pub async fn invite(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ManageInvitations).await?;
    let form = form.into_inner();
    let roles = grantable_roles(&granted);
    let mut errors = FormErrors::default();
    let surname = errors.check(PersonName::parse("surname", &form.surname));
    let given_name = errors.check(PersonName::parse_optional("given_name", &form.given_name));
    let email = errors.check(Email::parse(&form.email));
    let role = if form.role.is_empty() {
        Ok(Role::Member)
    } else {
        parse_role(&form.role, &roles)
    };
    let role = errors.check(role);
    let ends_on = errors.check(EndDate::parse_optional(&form.ends_on, ctx.clock.today()));
    let message = errors.check(InvitationMessage::parse_optional("message", &form.message));
    let (Some(surname), Some(given_name), Some(email), Some(role), Some(ends_on), Some(message)) =
        (surname, given_name, email, role, ends_on, message)
    else {
        let page = invitations_page(
            &ctx,
            &user,
            &organisation,
            &granted,
            InvitationsView {
                errors,
                form,
                ..InvitationsView::default()
            },
        )
        .await?;
        return render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let ip = crate::web::audit_ip(&req, &ctx);
    let created = create_invitation(
        &ctx,
        InvitationRequest {
            email: email.clone(),
            surname,
            given_name,
            role,
            organisation_id: Some(&organisation.id),
            organisation_name: Some(&organisation.name),
            inviter: crate::usecases::Actor::Person(&user.person.id),
            may_grant_manager: granted.allows(Permission::GrantManager),
            client_ip: ip.as_deref(),
            ends_on,
            message,
        },
    )
    .await
    .map_err(|error| match error {
        InvitationError::RoleNotGrantable => WebError::Forbidden(error.to_string()),
        other => WebError::internal(other),
    })?;
    let fresh = FreshLink {
        email: email.to_string(),
        link: created.link,
        resent: created.resent,
    };
    render(
        &invitations_page(
            &ctx,
            &user,
            &organisation,
            &granted,
            InvitationsView {
                fresh: Some(fresh),
                ..InvitationsView::default()
            },
        )
        .await?,
    )
}

pub async fn resend(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, invitation_id) = path.into_inner();
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageInvitations).await?;
    let ip = crate::web::audit_ip(&req, &ctx);
    let resent = resend_invitation(
        &ctx,
        &organisation,
        &invitation_id,
        crate::usecases::Actor::Person(&user.person.id),
        ip.as_deref(),
    )
    .await
    .map_err(WebError::internal)?;
    let Some(resent) = resent else {
        return Err(invitation_not_open(&ctx, &organisation, &invitation_id).await?);
    };
    let email = ctx
        .store
        .invitation_in_organisation(&organisation.id, &resent.id)
        .await?
        .map(|invitation| invitation.email)
        .unwrap_or_default();
    let fresh = FreshLink {
        email,
        link: resent.link,
        resent: true,
    };
    render(
        &invitations_page(
            &ctx,
            &user,
            &organisation,
            &granted,
            InvitationsView {
                fresh: Some(fresh),
                ..InvitationsView::default()
            },
        )
        .await?,
    )
}

/// Why an invitation of this organisation cannot be resent or revoked.
async fn invitation_not_open(
    ctx: &AppContext,
    organisation: &Organisation,
    invitation_id: &str,
) -> Result<WebError, WebError> {
    Ok(
        match ctx
            .store
            .invitation_in_organisation(&organisation.id, invitation_id)
            .await?
        {
            None => WebError::NotFound,
            Some(_) => not_open(),
        },
    )
}

fn not_open() -> WebError {
    WebError::Conflict(
        "This invitation was already accepted or withdrawn; it cannot be changed.".into(),
    )
}

/// `GET /orgs/{org}/invitations/{invitation}/revoke`: asks before withdrawing; refuses as
/// the withdrawal does (404 unknown, 409 no longer open).
pub async fn confirm_revoke(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, invitation_id) = path.into_inner();
    let (organisation, _) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageInvitations).await?;
    let invitation = ctx
        .store
        .invitation_in_organisation(&organisation.id, &invitation_id)
        .await?
        .ok_or(WebError::NotFound)?;
    if invitation.status != crate::domain::InvitationStatus::Pending {
        return Err(not_open());
    }
    Confirmation {
        layout: Layout::for_user(&user)?,
        question: format!(
            "Withdraw the invitation to {} to join {} as {}?",
            invitation.email,
            organisation.name,
            invitation.role.label().to_lowercase()
        ),
        consequences: vec![
            "The link in their email will stop working. You can invite them again later.".into(),
        ],
        action: format!(
            "/orgs/{}/invitations/{}/revoke",
            organisation.id, invitation.id
        ),
        hidden: Vec::new(),
        button: "Yes, withdraw it",
        cancel: format!("/orgs/{}/invitations", organisation.id),
    }
    .render()
}

pub async fn revoke(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, invitation_id) = path.into_inner();
    let (organisation, _) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageInvitations).await?;
    let ip = crate::web::audit_ip(&req, &ctx);
    let revoked = crate::usecases::invitations::revoke_invitation(
        &ctx,
        crate::usecases::Actor::Person(&user.person.id),
        ip.as_deref(),
        &organisation.id,
        &invitation_id,
    )
    .await?;
    if !revoked {
        return Err(invitation_not_open(&ctx, &organisation, &invitation_id).await?);
    }
    if let Some(invitation) = ctx
        .store
        .invitation_in_organisation(&organisation.id, &invitation_id)
        .await?
    {
        crate::web::notice::keep(
            &user.session,
            "revoked",
            format!(
                "The invitation to {} was withdrawn; its link no longer works.",
                invitation.email
            ),
        );
    }
    Ok(see_other(&format!(
        "/orgs/{}/invitations?done=revoked",
        organisation.id
    )))
}
