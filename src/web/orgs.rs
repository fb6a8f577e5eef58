//! The organisation pages: overview, members, directory search, invitations, history.
//! Each handler goes through `web::guard`, which answers 404 for an unknown organisation
//! and 403 for one the person may not touch.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::account::see_other;
use super::error::WebError;
use super::pages::{FormErrors, Layout, Pager, query_value, render, render_with_status};
use crate::context::{AppContext, now, today};
use crate::domain::{
    Description, Email, EndDate, OrganisationName, Permission, PersonName, Role, SearchText,
    ShortName,
};
use crate::store::audit::AuditEvent;
use crate::store::invitations::ListedInvitation;
use crate::store::jobs::JobKind;
use crate::store::memberships::{AddMemberError, Member, MembershipChange};
use crate::store::organisations::{Organisation, Versioned};
use crate::usecases::invitations::{
    InvitationRequest, create_invitation, format_date, resend_invitation,
};
use crate::usecases::organisations::{
    AddFromDirectoryError, NewOrganisationRequest, OrganisationError, add_member_from_directory,
    create_organisation,
};
use crate::web::guard::{self, Granted};
use crate::web::identity::SignedIn;

const MEMBERS_PER_PAGE: i64 = 50;
const DIRECTORY_PER_PAGE: usize = 25;
/// Most directory entries one search fetches; more means "narrow your search".
const DIRECTORY_SIZE_LIMIT: i32 = 500;

/// Messages shown after a redirect, chosen by a code so no text travels in URLs.
fn notice_for(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "The organisation was created.",
        "description" => "The description was saved.",
        "role" => "The role was changed.",
        "end-date" => "The end date was saved.",
        "removed" => "The member was removed from the organisation. Their account is kept.",
        "added" => "The person was added as a member.",
        "revoked" => "The invitation was withdrawn; its link no longer works.",
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    done: Option<String>,
}

fn stale() -> WebError {
    WebError::Conflict(
        "This changed since you opened the page: someone else edited it. Nothing was saved. \
         Go back, reload the page to see the current state, and try again."
            .into(),
    )
}

/// The roles this person may hand out in this organisation.
fn grantable_roles(granted: &Granted) -> Vec<Role> {
    if granted.allows(Permission::GrantManager) {
        Role::ORGANISATION_ROLES.to_vec()
    } else {
        vec![Role::Member]
    }
}

fn parse_role(value: &str, allowed: &[Role]) -> Result<Role, crate::domain::FieldError> {
    Role::parse(value)
        .filter(|role| allowed.contains(role))
        .ok_or_else(|| crate::domain::FieldError::new("role", "Choose one of the roles offered."))
}

// ---------------------------------------------------------------- list and create

#[derive(Template)]
#[template(path = "orgs/list.html")]
struct ListPage {
    layout: Layout,
    organisations: Vec<Organisation>,
    can_create: bool,
    errors: FormErrors,
    form: CreateForm,
}

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    short_name: String,
    #[serde(default)]
    description: String,
}

async fn list_page(
    ctx: &AppContext,
    user: &SignedIn,
    errors: FormErrors,
    form: CreateForm,
) -> Result<ListPage, WebError> {
    let can_create = guard::allows(ctx, user, Permission::CreateOrganisation, None).await?;
    let sees_all =
        can_create || guard::allows(ctx, user, Permission::ViewOrganisation, None).await?;
    let organisations = if sees_all {
        ctx.store.all_organisations().await?
    } else {
        ctx.store.organisations_of(&user.person.id).await?
    };
    Ok(ListPage {
        layout: Layout::for_user(user)?,
        organisations,
        can_create,
        errors,
        form,
    })
}

pub async fn list(ctx: web::Data<AppContext>, user: SignedIn) -> Result<HttpResponse, WebError> {
    render(&list_page(&ctx, &user, FormErrors::default(), CreateForm::default()).await?)
}

pub async fn create(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::CreateOrganisation, None).await?;
    let form = form.into_inner();
    let mut errors = FormErrors::default();
    let name = errors.check(OrganisationName::parse(&form.name));
    let short_name = errors.check(ShortName::parse(&form.short_name));
    let description = errors.check(Description::parse(&form.description));
    let (Some(name), Some(short_name), Some(description)) = (name, short_name, description) else {
        return render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &list_page(&ctx, &user, errors, form).await?,
        );
    };
    let ip = super::audit_ip(&req, &ctx);
    let created = create_organisation(
        &ctx,
        NewOrganisationRequest {
            name,
            short_name,
            description,
            actor_id: Some(&user.person.id),
            client_ip: ip.as_deref(),
        },
    )
    .await;
    match created {
        Ok(organisation) => Ok(see_other(&format!("/orgs/{}?done=created", organisation.id))),
        Err(OrganisationError::ShortNameTaken(_)) => {
            errors.add(crate::domain::FieldError::new(
                "short_name",
                "This name is already taken, by another organisation or by a group or person in the directory. Choose another.",
            ));
            render_with_status(StatusCode::CONFLICT, &list_page(&ctx, &user, errors, form).await?)
        }
        Err(OrganisationError::GidRangeExhausted) => Err(WebError::Conflict(
            "No group number is left in the configured range. Ask the site administrators to widen ldap.gid_number_max."
                .into(),
        )),
        Err(OrganisationError::Directory(error)) => Err(WebError::Unavailable(format!(
            "The directory could not be asked which group numbers are free, so nothing was created. Try again shortly. ({error})"
        ))),
        Err(OrganisationError::Store(error)) => Err(error.into()),
    }
}

// ---------------------------------------------------------------- overview

#[derive(Template)]
#[template(path = "orgs/show.html")]
struct ShowPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    notice: Option<&'static str>,
    pending: bool,
    member_count: i64,
    description: String,
    errors: FormErrors,
}

/// Which organisation links the person may follow.
struct OrgNav {
    id: String,
    current: &'static str,
    members: bool,
    directory: bool,
    invitations: bool,
    history: bool,
    edit: bool,
}

fn org_nav(granted: &Granted, organisation: &Organisation, current: &'static str) -> OrgNav {
    OrgNav {
        id: organisation.id.clone(),
        current,
        members: granted.allows(Permission::ViewOrganisation),
        directory: granted.allows(Permission::SearchDirectory),
        invitations: granted.allows(Permission::ManageInvitations),
        history: granted.allows(Permission::ViewOrganisationHistory),
        edit: granted.allows(Permission::EditOrganisation),
    }
}

fn show_page<'a>(
    user: &SignedIn,
    organisation: &'a Organisation,
    granted: &Granted,
    notice: Option<&'static str>,
    description: String,
    errors: FormErrors,
) -> Result<ShowPage<'a>, WebError> {
    Ok(ShowPage {
        layout: Layout::for_user(user)?,
        nav: org_nav(granted, organisation, "overview"),
        pending: organisation.sync_pending,
        organisation,
        notice,
        member_count: organisation.member_count,
        description,
        errors,
    })
}

pub async fn show(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ViewOrganisation).await?;
    let description = organisation.description.clone();
    render(&show_page(
        &user,
        &organisation,
        &granted,
        notice_for(query.done.as_deref()),
        description,
        FormErrors::default(),
    )?)
}

#[derive(Deserialize)]
pub struct DescriptionForm {
    description: String,
    version: i64,
}

pub async fn update_description(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<DescriptionForm>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::EditOrganisation).await?;
    let description = match Description::parse(&form.description) {
        Ok(description) => description,
        Err(error) => {
            let mut errors = FormErrors::default();
            errors.add(error);
            let page = show_page(
                &user,
                &organisation,
                &granted,
                None,
                form.description.clone(),
                errors,
            )?;
            return render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let ip = super::audit_ip(&req, &ctx);
    let outcome = ctx
        .store
        .update_description(
            &organisation.id,
            form.version,
            &description,
            AuditEvent {
                actor_id: Some(&user.person.id),
                action: "organisation.description_changed",
                client_ip: ip.as_deref(),
                details: "changed the description".into(),
                ..AuditEvent::default()
            },
            now(),
        )
        .await?;
    match outcome {
        Versioned::Updated => Ok(see_other(&format!(
            "/orgs/{}?done=description",
            organisation.id
        ))),
        Versioned::Stale => Err(stale()),
    }
}

// ---------------------------------------------------------------- members

#[derive(Template)]
#[template(path = "orgs/members.html")]
struct MembersPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    notice: Option<&'static str>,
    pending: bool,
    members: Vec<Member>,
    pager: Pager,
    q: String,
    q_encoded: String,
    search_error: Option<String>,
    can_manage: bool,
    roles: Vec<Role>,
}

impl MembersPage<'_> {
    /// Managers may change members; changing managers and owners needs the owner's right.
    fn may_change(&self, member: &Member) -> bool {
        self.can_manage && self.roles.contains(&member.role)
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    done: Option<String>,
}

pub async fn members(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ViewOrganisation).await?;
    let raw = query.q.clone().unwrap_or_default();
    let (search, search_error) = match SearchText::parse(&raw) {
        Ok(search) => (search, None),
        Err(error) => (None, Some(error.message)),
    };
    let page = ctx
        .store
        .members_page_at(
            &organisation.id,
            search.as_ref().map(SearchText::as_str),
            query.page.unwrap_or(1),
            MEMBERS_PER_PAGE,
            Some(organisation.member_count),
            Some(organisation.members_version),
        )
        .await?;
    let status = if search_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render_with_status(
        status,
        &MembersPage {
            layout: Layout::for_user(&user)?,
            nav: org_nav(&granted, &organisation, "members"),
            notice: notice_for(query.done.as_deref()),
            pending: organisation.sync_pending,
            pager: Pager::new(Some(page.page), MEMBERS_PER_PAGE, page.total),
            members: page.members,
            q_encoded: query_value(&raw),
            q: raw,
            search_error,
            can_manage: granted.allows(Permission::ManageMembers),
            roles: grantable_roles(&granted),
            organisation: &organisation,
        },
    )
}

#[derive(Template)]
#[template(path = "orgs/member.html")]
struct MemberPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    member: Member,
    roles: Vec<Role>,
    today: String,
}

/// One member's page with the forms to change them (owners and managers only).
pub async fn member(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, membership_id) = path.into_inner();
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageMembers).await?;
    let member = ctx
        .store
        .member(&organisation.id, &membership_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let roles = grantable_roles(&granted);
    if !roles.contains(&member.role) {
        return Err(WebError::Forbidden(
            "Only the organisation's owner can change its owners and managers.".into(),
        ));
    }
    render(&MemberPage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "members"),
        organisation: &organisation,
        member,
        roles,
        today: EndDate::from_date(today()).to_iso(),
    })
}

#[derive(Deserialize)]
pub struct MembershipForm {
    version: i64,
    #[serde(default)]
    role: String,
    #[serde(default)]
    ends_on: String,
}

/// `POST /orgs/{org}/members/{membership}/{role|end-date|remove}`.
pub async fn change_member(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String, String)>,
    form: web::Form<MembershipForm>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, membership_id, change) = path.into_inner();
    let kind = match change.as_str() {
        "role" => "role",
        "end-date" => "end-date",
        "remove" => "remove",
        _ => return Err(WebError::NotFound),
    };
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageMembers).await?;
    let member = ctx
        .store
        .member(&organisation.id, &membership_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let roles = grantable_roles(&granted);
    if !roles.contains(&member.role) {
        return Err(WebError::Forbidden(
            "Only the organisation's owner can change its owners and managers.".into(),
        ));
    }
    let bad = |error: crate::domain::FieldError| WebError::BadRequest(error.message);
    let (change, details) = match kind {
        "role" => {
            let role = parse_role(&form.role, &roles).map_err(bad)?;
            (
                MembershipChange::Role(role),
                format!(
                    "changed {}'s role to {}",
                    member.display_name(),
                    role.as_str()
                ),
            )
        }
        "end-date" => {
            let ends_on = EndDate::parse_optional(&form.ends_on, today()).map_err(bad)?;
            let shown = ends_on
                .map(EndDate::to_iso)
                .unwrap_or_else(|| "none".into());
            (
                MembershipChange::EndDate(ends_on),
                format!("set {}'s end date to {shown}", member.display_name()),
            )
        }
        _ => (
            MembershipChange::Remove,
            format!("removed {}", member.display_name()),
        ),
    };
    let ip = super::audit_ip(&req, &ctx);
    let action = match change {
        MembershipChange::Role(_) => "member.role_changed",
        MembershipChange::EndDate(_) => "member.end_date_changed",
        MembershipChange::Remove => "member.removed",
    };
    let outcome = ctx
        .store
        .change_membership(
            &organisation.id,
            &member.membership_id,
            form.version,
            &change,
            AuditEvent {
                actor_id: Some(&user.person.id),
                action,
                subject_id: Some(&member.person_id),
                client_ip: ip.as_deref(),
                details,
                ..AuditEvent::default()
            },
            now(),
        )
        .await?;
    match outcome {
        Versioned::Stale => Err(stale()),
        Versioned::Updated => {
            crate::jobs::apply_now(&ctx, JobKind::SyncGroup, &organisation.id).await;
            let done = if kind == "remove" { "removed" } else { kind };
            Ok(see_other(&format!(
                "/orgs/{}/members?done={done}",
                organisation.id
            )))
        }
    }
}

// ---------------------------------------------------------------- directory search

struct DirectoryRow {
    uid: String,
    name: String,
    email: String,
    is_member: bool,
}

#[derive(Template)]
#[template(path = "orgs/directory.html")]
struct DirectoryPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    q: String,
    q_encoded: String,
    searched: bool,
    error: Option<String>,
    rows: Vec<DirectoryRow>,
    pager: Pager,
    truncated: bool,
    can_add: bool,
    roles: Vec<Role>,
}

pub async fn directory(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::SearchDirectory).await?;
    let raw = query.q.clone().unwrap_or_default();
    let mut page = DirectoryPage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "directory"),
        q_encoded: query_value(&raw),
        q: raw.clone(),
        searched: false,
        error: None,
        rows: Vec::new(),
        pager: Pager::new(None, 1, 0),
        truncated: false,
        can_add: granted.allows(Permission::ManageMembers),
        roles: grantable_roles(&granted),
        organisation: &organisation,
    };
    let text = match SearchText::parse(&raw) {
        // One letter matches much of any directory and makes the server read every entry.
        Ok(Some(text)) if text.as_str().chars().count() < 2 => {
            page.error = Some("Type at least 2 characters to search.".into());
            return render_with_status(StatusCode::BAD_REQUEST, &page);
        }
        Ok(Some(text)) => text,
        Ok(None) => return render(&page),
        Err(error) => {
            page.error = Some(error.message);
            return render_with_status(StatusCode::BAD_REQUEST, &page);
        }
    };
    page.searched = true;
    let results = match ctx
        .directory
        .search_people(&text, DIRECTORY_SIZE_LIMIT)
        .await
    {
        Ok(results) => results,
        Err(error) => {
            tracing::warn!(%error, "directory search failed");
            page.error = Some("The directory is not answering right now, so nobody could be searched. Try again in a moment.".into());
            return render_with_status(StatusCode::SERVICE_UNAVAILABLE, &page);
        }
    };
    let per_page = i64::try_from(DIRECTORY_PER_PAGE).unwrap_or(25);
    let total = i64::try_from(results.people.len()).unwrap_or(i64::MAX);
    page.pager = Pager::new(query.page, per_page, total);
    page.truncated = results.truncated;
    let shown: Vec<_> = results
        .people
        .into_iter()
        .skip(usize::try_from(page.pager.offset()).unwrap_or(0))
        .take(DIRECTORY_PER_PAGE)
        .collect();
    let uids: Vec<&str> = shown.iter().map(|person| person.uid.as_str()).collect();
    let members = ctx.store.members_among(&organisation.id, &uids).await?;
    page.rows = shown
        .into_iter()
        .map(|person| DirectoryRow {
            is_member: members.iter().any(|uid| uid == &person.uid),
            name: person.display_name(),
            email: person.email.unwrap_or_default(),
            uid: person.uid,
        })
        .collect();
    render(&page)
}

#[derive(Deserialize)]
pub struct AddMemberForm {
    uid: String,
    #[serde(default)]
    role: String,
}

pub async fn add_member(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<AddMemberForm>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ManageMembers).await?;
    let roles = grantable_roles(&granted);
    let role = if form.role.is_empty() {
        Role::Member
    } else {
        parse_role(&form.role, &roles).map_err(|error| WebError::BadRequest(error.message))?
    };
    if form.uid.is_empty() || form.uid.len() > 256 || form.uid.chars().any(char::is_control) {
        return Err(WebError::BadRequest(
            "Choose a person from the search results.".into(),
        ));
    }
    let ip = super::audit_ip(&req, &ctx);
    match add_member_from_directory(&ctx, &organisation, &form.uid, role, &user.person.id, ip.as_deref()).await {
        Ok(()) => Ok(see_other(&format!("/orgs/{}/members?done=added", organisation.id))),
        Err(AddFromDirectoryError::NotInDirectory) => Err(WebError::NotFoundWith {
            title: "Person not found".into(),
            message: "Nobody with this username is in the directory. Search again and choose from the results.".into(),
        }),
        Err(AddFromDirectoryError::NoEmail) => Err(WebError::Conflict(
            "This person has no email address in the directory, so Roster cannot manage their account. Ask the helpdesk to add one."
                .into(),
        )),
        Err(AddFromDirectoryError::Add(AddMemberError::AlreadyMember)) => {
            Err(WebError::Conflict("This person is already a member of the organisation.".into()))
        }
        Err(AddFromDirectoryError::Add(AddMemberError::EmailTaken)) => Err(WebError::Conflict(
            "A different Roster account already uses this person's email address. Ask the helpdesk to link them.".into(),
        )),
        Err(AddFromDirectoryError::Add(AddMemberError::Store(error))) => Err(error.into()),
        Err(AddFromDirectoryError::Directory(error)) => Err(WebError::Unavailable(format!(
            "The directory is not answering, so nobody was added. Try again shortly. ({error})"
        ))),
    }
}

// ---------------------------------------------------------------- invitations

struct InvitationRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    state: &'static str,
    invited_by: String,
    sent: String,
    expires: String,
    ends_on: String,
    open: bool,
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
        sent: format_date(invitation.sent_at.unwrap_or(invitation.created_at)),
        expires: format_date(invitation.expires_at),
        ends_on: invitation.ends_on.unwrap_or_default(),
        email: invitation.email,
        id: invitation.id,
    }
}

/// The link just created, shown once (only its hash is stored).
struct FreshLink {
    email: String,
    link: String,
    resent: bool,
    mailed: bool,
}

#[derive(Template)]
#[template(path = "orgs/invitations.html")]
struct InvitationsPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    notice: Option<&'static str>,
    rows: Vec<InvitationRow>,
    roles: Vec<Role>,
    errors: FormErrors,
    form: InviteForm,
    fresh: Option<FreshLink>,
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
}

/// What the invitations page shows besides the list: a notice, the form (with its errors)
/// and a link just made.
#[derive(Default)]
struct InvitationsView {
    notice: Option<&'static str>,
    errors: FormErrors,
    form: InviteForm,
    fresh: Option<FreshLink>,
}

async fn invitations_page<'a>(
    ctx: &AppContext,
    user: &SignedIn,
    organisation: &'a Organisation,
    granted: &Granted,
    view: InvitationsView,
) -> Result<InvitationsPage<'a>, WebError> {
    let at = now();
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
    })
}

pub async fn invitations(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ManageInvitations).await?;
    let notice = notice_for(query.done.as_deref());
    render(
        &invitations_page(
            &ctx,
            &user,
            &organisation,
            &granted,
            InvitationsView {
                notice,
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
    let ends_on = errors.check(EndDate::parse_optional(&form.ends_on, today()));
    let (Some(surname), Some(given_name), Some(email), Some(role), Some(ends_on)) =
        (surname, given_name, email, role, ends_on)
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
    let ip = super::audit_ip(&req, &ctx);
    let created = create_invitation(
        &ctx,
        InvitationRequest {
            email: email.clone(),
            surname,
            given_name,
            role,
            organisation_id: Some(&organisation.id),
            organisation_name: Some(&organisation.name),
            invited_by: Some(&user.person.id),
            client_ip: ip.as_deref(),
            ends_on,
        },
    )
    .await
    .map_err(WebError::internal)?;
    let fresh = FreshLink {
        email: email.to_string(),
        link: created.link,
        resent: created.resent,
        mailed: created.mail.is_ok(),
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
    let ip = super::audit_ip(&req, &ctx);
    let resent = resend_invitation(
        &ctx,
        &organisation,
        &invitation_id,
        &user.person.id,
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
        mailed: resent.mail.is_ok(),
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
            Some(_) => WebError::Conflict(
                "This invitation was already accepted or withdrawn; it cannot be changed.".into(),
            ),
        },
    )
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
    let ip = super::audit_ip(&req, &ctx);
    let revoked = ctx
        .store
        .revoke_invitation(
            &organisation.id,
            &invitation_id,
            &user.person.id,
            AuditEvent {
                actor_id: Some(&user.person.id),
                action: "invitation.revoked",
                client_ip: ip.as_deref(),
                details: "withdrew the invitation".into(),
                ..AuditEvent::default()
            },
            now(),
        )
        .await?;
    if !revoked {
        return Err(invitation_not_open(&ctx, &organisation, &invitation_id).await?);
    }
    Ok(see_other(&format!(
        "/orgs/{}/invitations?done=revoked",
        organisation.id
    )))
}

// ---------------------------------------------------------------- history

struct HistoryRow {
    at: String,
    actor: String,
    action: String,
    details: String,
    client_ip: String,
}

#[derive(Template)]
#[template(path = "orgs/history.html")]
struct HistoryPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    rows: Vec<HistoryRow>,
}

pub async fn history(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ViewOrganisationHistory).await?;
    let rows = ctx
        .store
        .audit_of_organisation(&organisation.id, 500)
        .await?
        .into_iter()
        .map(|event| HistoryRow {
            at: format_date(event.occurred_at),
            actor: event.actor_name.unwrap_or_else(|| "command line".into()),
            action: event.action,
            details: event.details,
            client_ip: event.client_ip.unwrap_or_default(),
        })
        .collect();
    render(&HistoryPage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "history"),
        organisation: &organisation,
        rows,
    })
}
