//! The member list (paged, searchable) and one member's role and end date.

use super::*;
use crate::web::confirm::{Confirmation, count_of};

#[derive(Template)]
#[template(path = "orgs/members.html")]
struct MembersPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    notice: Option<String>,
    pending: bool,
    members: Vec<Member>,
    pager: Pager,
    q: String,
    search_error: Option<String>,
    can_manage: bool,
    roles: Vec<Role>,
    /// The clock's time, for relative dates.
    now: i64,
}

impl MembersPage<'_> {
    /// Managers may change members; changing managers and owners needs the owner's right.
    fn may_change(&self, member: &Member) -> bool {
        self.can_manage && self.roles.contains(&member.role)
    }
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
            notice: notice(&user, query.done.as_deref()),
            pending: organisation.sync_pending,
            pager: Pager::new(Some(page.page), MEMBERS_PER_PAGE, page.total).linking_to(
                &format!("/orgs/{}/members", organisation.id),
                &format!("q={}", query_value(&raw)),
            ),
            members: page.members,
            q: raw,
            search_error,
            can_manage: granted.allows(Permission::ManageMembers),
            roles: grantable_roles(&granted),
            organisation: &organisation,
            now: ctx.clock.now(),
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
    /// The clock's time, for relative dates.
    now: i64,
}

/// The organisation and a member this person may change: 404 for an unknown member,
/// 403 when changing them needs the owner's right.
async fn changeable_member(
    ctx: &AppContext,
    user: &SignedIn,
    organisation_id: &str,
    membership_id: &str,
) -> Result<(Organisation, Granted, Member), WebError> {
    let (organisation, granted) =
        guard::organisation(ctx, user, organisation_id, Permission::ManageMembers).await?;
    let member = ctx
        .store
        .member(&organisation.id, membership_id)
        .await?
        .ok_or(WebError::NotFound)?;
    if !grantable_roles(&granted).contains(&member.role) {
        return Err(MembershipError::RoleNotGrantable.into());
    }
    Ok((organisation, granted, member))
}

/// `GET /orgs/{org}/members/{membership}/remove`: asks before removing, saying what the
/// member loses.
pub async fn confirm_remove(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, membership_id) = path.into_inner();
    let (organisation, _, member) =
        changeable_member(&ctx, &user, &organisation_id, &membership_id).await?;
    let resources = ctx
        .store
        .resources_usable_by(&member.person_id, &ctx.clock.today_iso())
        .await?
        .into_iter()
        .filter(|(resource, _)| resource.organisation_id == organisation.id)
        .count();
    let name = member.display_name();
    let access = if resources == 0 {
        format!("{name} uses none of its resources.")
    } else {
        format!(
            "{name}’s access to {} ends now.",
            count_of(resources, "resource")
        )
    };
    Confirmation {
        layout: Layout::for_user(&user)?,
        question: format!("Remove {name} from {}?", organisation.name),
        consequences: vec![
            format!("Remove {name} from {}. {access}", organisation.name),
            format!(
                "Their account is kept; they leave {}’s group in the directory.",
                organisation.name
            ),
        ],
        action: format!(
            "/orgs/{}/members/{}/remove",
            organisation.id, member.membership_id
        ),
        hidden: vec![("version", member.version.to_string())],
        button: "Yes, remove them",
        cancel: format!("/orgs/{}/members/{}", organisation.id, member.membership_id),
    }
    .render()
}

/// One member's page with the forms to change them (owners and managers only).
pub async fn member(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, membership_id) = path.into_inner();
    let (organisation, granted, member) =
        changeable_member(&ctx, &user, &organisation_id, &membership_id).await?;
    let roles = grantable_roles(&granted);
    render(&MemberPage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "members"),
        organisation: &organisation,
        member,
        roles,
        today: EndDate::from_date(ctx.clock.today()).to_iso(),
        now: ctx.clock.now(),
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
        "claim" => "claim",
        _ => return Err(WebError::NotFound),
    };
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageMembers).await?;
    let member = ctx
        .store
        .member(&organisation.id, &membership_id)
        .await?
        .ok_or(WebError::NotFound)?;
    if kind == "claim" {
        return resend_claim(&ctx, &user, &organisation, &member).await;
    }
    let ip = crate::web::audit_ip(&req, &ctx);
    let actor = org_actor(&user, &granted, ip.as_deref());
    let bad = |error: crate::domain::FieldError| WebError::BadRequest(error.message);
    let change = match kind {
        "role" => {
            MembershipChange::Role(parse_role(&form.role, &actor.grantable_roles()).map_err(bad)?)
        }
        "end-date" => MembershipChange::EndDate(
            EndDate::parse_optional(&form.ends_on, ctx.clock.today()).map_err(bad)?,
        ),
        _ => MembershipChange::Remove,
    };
    let name = member.display_name();
    let told = match &change {
        MembershipChange::Role(role) => format!(
            "{name}’s role in {} is now {}.",
            organisation.name,
            role.label()
        ),
        MembershipChange::EndDate(Some(ends)) => format!(
            "{name}’s membership of {} now ends on {}.",
            organisation.name,
            ends.to_iso()
        ),
        MembershipChange::EndDate(None) => format!(
            "{name}’s membership of {} no longer has an end date.",
            organisation.name
        ),
        MembershipChange::Remove => format!(
            "{name} was removed from {}. Their account is kept.",
            organisation.name
        ),
    };
    organisations::change_membership(&ctx, actor, &organisation, &member, form.version, change)
        .await?;
    let done = if kind == "remove" { "removed" } else { kind };
    crate::web::notice::keep(&user.session, done, told);
    Ok(see_other(&format!(
        "/orgs/{}/members?done={done}",
        organisation.id
    )))
}

/// `POST /orgs/{org}/members/{membership}/claim`: mails an adopted member who has not
/// claimed their account a new link to do so.
async fn resend_claim(
    ctx: &AppContext,
    user: &SignedIn,
    organisation: &crate::store::organisations::Organisation,
    member: &crate::store::memberships::Member,
) -> Result<HttpResponse, WebError> {
    use crate::usecases::adoption::{ClaimScope, send_claims};
    let sent = send_claims(ctx, ClaimScope::Person(&member.person_id))
        .await
        .map_err(WebError::internal)?;
    if sent == 0 {
        return Err(WebError::Conflict(format!(
            "{} has claimed their account already, so no claim email was sent.",
            member.display_name()
        )));
    }
    crate::web::notice::keep(
        &user.session,
        "claim",
        format!(
            "A new email to claim their account was sent to {} ({}).",
            member.display_name(),
            member.email
        ),
    );
    Ok(see_other(&format!(
        "/orgs/{}/members?done=claim",
        organisation.id
    )))
}
