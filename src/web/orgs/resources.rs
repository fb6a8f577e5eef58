//! An organisation's Resources page (filtered by kind and site, with the form to add one)
//! and each resource's page: who may use it and why, with the forms of `resource_changes`.

use super::*;
use crate::domain::{ResourceKind, Site};
use crate::store::resources::{Resource, ResourceStatus};
use crate::usecases::resources::{
    NewResourceRequest, ResourceActor, ResourceError, create_resource,
};

struct ResourceRow {
    id: String,
    name: String,
    group: String,
    kind: String,
    site: String,
    status: &'static str,
    restricted: bool,
    ends_on: String,
}

impl From<&Resource> for ResourceRow {
    fn from(resource: &Resource) -> Self {
        Self {
            id: resource.id.clone(),
            name: resource.name.clone(),
            group: resource.group_name.clone(),
            kind: resource.kind.clone(),
            site: resource.site.clone(),
            status: resource.status.as_str(),
            restricted: resource.restricted,
            ends_on: resource.ends_on.clone().unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ResourceFilter {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    site: String,
    done: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewResourceForm {
    #[serde(default)]
    short_name: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    ends_on: String,
}

#[derive(Template)]
#[template(path = "orgs/resources.html")]
struct ResourcesPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    notice: Option<&'static str>,
    rows: Vec<ResourceRow>,
    kinds: Vec<String>,
    sites: Vec<String>,
    filter: ResourceFilter,
    /// The kinds this person may add; empty when they may add none.
    creatable: Vec<String>,
    form: NewResourceForm,
    errors: FormErrors,
}

/// Site administrators hold `org.create`; they handle every kind and retire resources.
pub(super) fn resource_actor<'a>(
    user: &'a SignedIn,
    granted: &Granted,
    client_ip: Option<&'a str>,
) -> ResourceActor<'a> {
    ResourceActor {
        actor: crate::usecases::Actor::Person(&user.person.id),
        client_ip,
        site_admin: granted.allows(Permission::CreateOrganisation),
    }
}

fn creatable_kinds(ctx: &AppContext, granted: &Granted) -> Vec<String> {
    if !granted.allows(Permission::ManageResources) {
        Vec::new()
    } else if granted.allows(Permission::CreateOrganisation) {
        ctx.settings.resources.kinds.clone()
    } else {
        ctx.settings.resources.self_service_kinds.clone()
    }
}

async fn resources_page<'a>(
    ctx: &AppContext,
    user: &SignedIn,
    organisation: &'a Organisation,
    granted: &Granted,
    filter: ResourceFilter,
    form: NewResourceForm,
    errors: FormErrors,
) -> Result<ResourcesPage<'a>, WebError> {
    let all = ctx.store.resources_of(&organisation.id).await?;
    let mut sites: Vec<String> = all
        .iter()
        .map(|r| r.site.clone())
        .filter(|s| !s.is_empty())
        .collect();
    sites.sort();
    sites.dedup();
    let rows = all
        .iter()
        .filter(|r| filter.kind.is_empty() || r.kind == filter.kind)
        .filter(|r| filter.site.is_empty() || r.site == filter.site)
        .map(ResourceRow::from)
        .collect();
    Ok(ResourcesPage {
        layout: Layout::for_user(user)?,
        nav: org_nav(granted, organisation, "resources"),
        organisation,
        notice: match filter.done.as_deref() {
            Some("created") => Some("The resource was created; its group is in LDAP."),
            _ => None,
        },
        rows,
        kinds: ctx.settings.resources.kinds.clone(),
        sites,
        creatable: creatable_kinds(ctx, granted),
        filter,
        form,
        errors,
    })
}

/// `GET /orgs/{org}/resources`
pub async fn resources(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    filter: web::Query<ResourceFilter>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ReadResources).await?;
    let page = resources_page(
        &ctx,
        &user,
        &organisation,
        &granted,
        filter.into_inner(),
        NewResourceForm::default(),
        FormErrors::default(),
    )
    .await?;
    render(&page)
}

pub(super) fn resource_error(error: ResourceError) -> WebError {
    match error {
        ResourceError::NotYours(message) => WebError::Forbidden(message.into()),
        ResourceError::Stale => stale(),
        ResourceError::Retired => WebError::Conflict("This resource is retired; nothing was changed.".into()),
        ResourceError::Directory(_) => WebError::Unavailable(
            "The directory is needed to allocate a gidNumber and cannot be reached. Nothing was created; try again in a few minutes.".into(),
        ),
        other => WebError::internal(other),
    }
}

/// `POST /orgs/{org}/resources`
pub async fn create(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<NewResourceForm>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ManageResources).await?;
    let form = form.into_inner();
    let mut errors = FormErrors::default();
    let short_name = errors.check(ShortName::parse(&form.short_name));
    let name = errors.check(OrganisationName::parse(&form.name));
    let kind = errors.check(ResourceKind::parse(
        &form.kind,
        &creatable_kinds(&ctx, &granted),
    ));
    let site = errors.check(Site::parse(&form.site));
    let description = errors.check(Description::parse(&form.description));
    let ends_on = errors.check(EndDate::parse_optional(&form.ends_on, ctx.clock.today()));
    let ip = crate::web::audit_ip(&req, &ctx);
    if let (
        Some(short_name),
        Some(name),
        Some(kind),
        Some(site),
        Some(description),
        Some(ends_on),
    ) = (short_name, name, kind, site, description, ends_on)
    {
        let request = NewResourceRequest {
            short_name,
            name,
            kind,
            site,
            description,
            ends_on,
        };
        let actor = resource_actor(&user, &granted, ip.as_deref());
        match create_resource(&ctx, &organisation, actor, request).await {
            Ok(resource) => {
                return Ok(see_other(&format!(
                    "/orgs/{}/resources/{}?done=created",
                    organisation.id, resource.id
                )));
            }
            Err(ResourceError::NameTaken(name)) => errors.add(crate::domain::FieldError::new(
                "short_name",
                format!("The group name {name} is taken by a group or a person; choose another short name."),
            )),
            Err(ResourceError::Invalid(error)) => errors.add(error),
            Err(other) => return Err(resource_error(other)),
        }
    }
    let page = resources_page(
        &ctx,
        &user,
        &organisation,
        &granted,
        ResourceFilter::default(),
        form,
        errors,
    )
    .await?;
    render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

struct AccessRow {
    username: String,
    reason: &'static str,
}

#[derive(Template)]
#[template(path = "orgs/resource.html")]
struct ResourcePage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    notice: Option<&'static str>,
    resource: Resource,
    retired: bool,
    /// Who may use it now, and why.
    access: Vec<AccessRow>,
    listed: String,
    assigned: String,
    may_change: bool,
    may_retire: bool,
    /// Where a site admin may move it: other organisations' short names.
    move_targets: Vec<String>,
}

/// The resource of this organisation the route names, or 404.
pub(super) async fn resource_of(
    ctx: &AppContext,
    organisation: &Organisation,
    resource_id: &str,
) -> Result<Resource, WebError> {
    ctx.store
        .resource(resource_id)
        .await?
        .filter(|resource| resource.organisation_id == organisation.id)
        .ok_or(WebError::NotFound)
}

/// `GET /orgs/{org}/resources/{resource}`
pub async fn resource(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, resource_id) = path.into_inner();
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ReadResources).await?;
    let resource = resource_of(&ctx, &organisation, &resource_id).await?;
    let today = ctx.clock.today_iso();
    let usernames = ctx.store.resource_member_uids(&resource.id, &today).await?;
    let people_ids = ctx.store.access_list(&resource.id).await?;
    let listed_people = ctx.store.usernames_of(&people_ids).await?;
    let assigned = match &resource.assigned_to {
        Some(id) => ctx
            .store
            .usernames_of(std::slice::from_ref(id))
            .await?
            .join(""),
        None => String::new(),
    };
    let access = usernames
        .into_iter()
        .map(|username| AccessRow {
            reason: if username == assigned {
                "assigned"
            } else if resource.restricted {
                "listed"
            } else {
                "role"
            },
            username,
        })
        .collect();
    let may_change = granted.allows(Permission::ManageResources)
        && (granted.allows(Permission::CreateOrganisation)
            || ctx
                .settings
                .resources
                .self_service_kinds
                .contains(&resource.kind));
    render(&ResourcePage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "resources"),
        organisation: &organisation,
        notice: match query.done.as_deref() {
            Some("created") => Some("The resource was created; its group is in LDAP."),
            Some("changed") => Some("Saved; the resource's group in LDAP follows."),
            _ => None,
        },
        retired: resource.status == ResourceStatus::Retired,
        may_retire: granted.allows(Permission::CreateOrganisation),
        move_targets: if granted.allows(Permission::CreateOrganisation) {
            ctx.store
                .all_organisations()
                .await?
                .into_iter()
                .filter(|other| other.id != organisation.id)
                .map(|other| other.short_name)
                .collect()
        } else {
            Vec::new()
        },
        may_change,
        access,
        listed: listed_people.join("\n"),
        assigned,
        resource,
    })
}
