//! Searching the LDAP directory for people to add, and adding them as members.

use super::*;
use crate::usecases::people_search::{PeopleWindow, Source, search_people_window};

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
    /// The local people index was never loaded, so LDAP was searched.
    from_directory: bool,
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
        from_directory: false,
        can_add: granted.allows(Permission::ManageMembers),
        roles: grantable_roles(&granted),
        organisation: &organisation,
    };
    let text = match SearchText::parse_directory_query(&raw) {
        Ok(Some(text)) => text,
        Ok(None) => return render(&page),
        Err(error) => {
            page.error = Some(error.message);
            return render_with_status(StatusCode::BAD_REQUEST, &page);
        }
    };
    page.searched = true;
    let per_page = i64::try_from(DIRECTORY_PER_PAGE).unwrap_or(25);
    let limit = crate::domain::DIRECTORY_SEARCH_LIMIT;
    // Only the page shown is read; a page past the end shows the last one (as the pager).
    let page_size = i32::try_from(per_page).unwrap_or(25);
    let offset_of =
        |total: i64| i32::try_from(Pager::new(query.page, per_page, total).offset()).unwrap_or(0);
    let member_of = Some(organisation.id.as_str());
    let mut window = search_people_window(
        &ctx,
        &text,
        limit,
        (offset_of(i64::from(limit)), page_size),
        member_of,
    )
    .await;
    if let Ok(found) = &window
        && found.found.people.is_empty()
        && found.total > 0
    {
        let last = offset_of(i64::try_from(found.total).unwrap_or(0));
        window = search_people_window(&ctx, &text, limit, (last, page_size), member_of).await;
    }
    let window: PeopleWindow = match window {
        Ok(window) => window,
        Err(error) => {
            tracing::warn!(%error, "directory search failed");
            page.error = Some("The directory is not answering right now, so nobody could be searched. Try again in a moment.".into());
            return render_with_status(StatusCode::SERVICE_UNAVAILABLE, &page);
        }
    };
    let total = i64::try_from(window.total).unwrap_or(i64::MAX);
    page.pager = Pager::new(query.page, per_page, total).linking_to(
        &format!("/orgs/{}/directory", organisation.id),
        &format!("q={}", page.q_encoded),
    );
    page.truncated = window.found.truncated;
    page.from_directory = window.found.source == Source::Directory;
    let members = window.members;
    page.rows = window
        .found
        .people
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
    let ip = crate::web::audit_ip(&req, &ctx);
    match add_member_from_directory(&ctx, &organisation, &form.uid, role, &user.person.id, ip.as_deref()).await {
        Ok(()) => {
            let added = ctx
                .store
                .members_page(&organisation.id, Some(&form.uid), 1, MEMBERS_PER_PAGE, None)
                .await?
                .members
                .into_iter()
                .find(|member| member.username.as_deref() == Some(form.uid.as_str()));
            if let Some(member) = added {
                crate::web::notice::keep(
                    &user.session,
                    "added",
                    format!(
                        "{} was added to {} as {}.",
                        member.display_name(),
                        organisation.name,
                        member.role.label().to_lowercase()
                    ),
                );
            }
            Ok(see_other(&format!("/orgs/{}/members?done=added", organisation.id)))
        }
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
