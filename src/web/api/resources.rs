//! `/api/v1/orgs/{short}/resources` and `/api/v1/resources/{id}`: an organisation's
//! resources, and changing one under `If-Match` (the access list and the access check are
//! in `resource_access`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::ItemError;
use super::{ApiCaller, ApiError, entity_tag, json_with_tag, not_modified, require_if_match};
use crate::context::AppContext;
use crate::domain::{
    Description, EndDate, OrganisationName, Permission, ResourceKind, ShortName, Site,
};
use crate::store::organisations::Organisation;
use crate::store::resources::{Resource, ResourceChange};
use crate::usecases::resources::{
    NewResourceRequest, NotMembers, ResourceActor, ResourceError, change_resource, create_resource,
    members_by_username,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceBody {
    pub id: String,
    /// The owning organisation's short name.
    pub org: String,
    pub short_name: String,
    /// The posixGroup's cn: `<org>-<short_name>`.
    pub group: String,
    pub name: String,
    pub kind: String,
    pub site: String,
    pub description: String,
    pub end_date: Option<String>,
    /// `active` or `retired`.
    pub status: String,
    /// Only the access list (and the assigned member) may use it.
    pub restricted: bool,
    /// The username of the member it is assigned to.
    pub assigned_to: Option<String>,
    pub gid_number: i64,
    /// The same value as the ETag, without quotes.
    pub version: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceList {
    pub resources: Vec<ResourceBody>,
}

async fn body_of(
    ctx: &AppContext,
    organisation: &Organisation,
    resource: &Resource,
) -> Result<ResourceBody, ApiError> {
    let assigned_to = match &resource.assigned_to {
        Some(person_id) => ctx
            .store
            .person_by_id(person_id)
            .await?
            .and_then(|person| person.username),
        None => None,
    };
    Ok(ResourceBody {
        id: resource.id.clone(),
        org: organisation.short_name.clone(),
        short_name: resource.short_name.clone(),
        group: resource.group_name.clone(),
        name: resource.name.clone(),
        kind: resource.kind.clone(),
        site: resource.site.clone(),
        description: resource.description.clone(),
        end_date: resource.ends_on.clone(),
        status: resource.status.as_str().into(),
        restricted: resource.restricted,
        assigned_to,
        gid_number: resource.gid_number,
        version: resource.version.to_string(),
    })
}

impl ApiCaller {
    /// A site-wide client with `resources.manage` acts as a site admin for resources.
    pub(super) fn resource_actor(&self) -> ResourceActor<'_> {
        ResourceActor {
            actor: crate::usecases::Actor::Client(&self.client_id),
            client_ip: self.client_ip.as_deref(),
            site_admin: self.org.is_none(),
        }
    }

    /// The resource `id` and its organisation, if the token may see it (404 otherwise,
    /// whether or not it exists) and carries `permission` (403).
    pub(super) async fn resource(
        &self,
        ctx: &AppContext,
        id: &str,
        permission: Permission,
    ) -> Result<(Organisation, Resource), ApiError> {
        let resource = ctx.store.resource(id).await?.ok_or(ApiError::NotFound)?;
        let organisation = ctx
            .store
            .organisation(&resource.organisation_id)
            .await?
            .filter(|organisation| self.may_see(organisation))
            .ok_or(ApiError::NotFound)?;
        self.require(permission)?;
        Ok((organisation, resource))
    }
}

/// The value, or its error noted in `errors`.
fn check<T>(
    errors: &mut Vec<ItemError>,
    result: Result<T, crate::domain::FieldError>,
) -> Option<T> {
    result
        .map_err(|error| {
            errors.push(ItemError {
                index: 0,
                field: error.field.into(),
                message: error.message,
            });
        })
        .ok()
}

pub(super) fn resource_error(error: ResourceError) -> ApiError {
    match error {
        ResourceError::Invalid(error) => ApiError::field(error.field, error.message),
        ResourceError::NameTaken(_) => ApiError::Conflict(error.to_string()),
        ResourceError::NotYours(message) => ApiError::Forbidden(message.into()),
        ResourceError::Stale => ApiError::PreconditionFailed,
        ResourceError::Retired => ApiError::Conflict("This resource is retired.".into()),
        ResourceError::Directory(_) => {
            ApiError::Unavailable("The directory is unavailable; try again later.".into())
        }
        other => ApiError::internal(other),
    }
}

#[utoipa::path(
    get, path = "/api/v1/orgs/{short}/resources", tag = "resources",
    params(("short" = String, Path)),
    responses((status = 200, body = ResourceList)),
    security(("bearer" = ["resources.read"]))
)]
pub async fn list(
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    short: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let organisation = caller
        .organisation(&ctx, &short, Permission::ReadResources)
        .await?;
    let mut resources = Vec::new();
    for resource in ctx.store.resources_of(&organisation.id).await? {
        resources.push(body_of(&ctx, &organisation, &resource).await?);
    }
    Ok(json_with_tag(
        StatusCode::OK,
        &ResourceList { resources },
        None,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResourceBody {
    pub short_name: String,
    pub name: String,
    /// One of the site's kinds; organisation clients may create the self-service kinds
    /// (by default `device` and `service`).
    pub kind: String,
    pub site: Option<String>,
    pub description: Option<String>,
    /// YYYY-MM-DD: nobody may use it after this day.
    pub end_date: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/orgs/{short}/resources", tag = "resources",
    params(("short" = String, Path)),
    request_body = NewResourceBody,
    responses(
        (status = 201, body = ResourceBody, headers(("Location" = String), ("ETag" = String))),
        (status = 403, body = super::problem::Problem),
        (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)
    ),
    security(("bearer" = ["resources.manage"]))
)]
pub async fn create(
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    short: web::Path<String>,
    body: web::Json<NewResourceBody>,
) -> Result<HttpResponse, ApiError> {
    let organisation = caller
        .organisation(&ctx, &short, Permission::ManageResources)
        .await?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let short_name = check(&mut errors, ShortName::parse(&body.short_name));
    let name = check(&mut errors, OrganisationName::parse(&body.name));
    let kind = check(
        &mut errors,
        ResourceKind::parse(&body.kind, &ctx.settings.resources.kinds),
    );
    let site = check(&mut errors, Site::parse(body.site.as_deref().unwrap_or("")));
    let description = check(
        &mut errors,
        Description::parse(body.description.as_deref().unwrap_or("")),
    );
    let ends_on = check(
        &mut errors,
        EndDate::parse_optional(body.end_date.as_deref().unwrap_or(""), ctx.clock.today()),
    );
    let (Some(short_name), Some(name), Some(kind), Some(site), Some(description), Some(ends_on)) =
        (short_name, name, kind, site, description, ends_on)
    else {
        return Err(ApiError::Unprocessable {
            detail: "The resource has invalid fields; nothing was created.".into(),
            errors,
        });
    };
    let resource = create_resource(
        &ctx,
        &organisation,
        caller.resource_actor(),
        NewResourceRequest {
            short_name,
            name,
            kind,
            site,
            description,
            ends_on,
        },
    )
    .await
    .map_err(resource_error)?;
    let body = body_of(&ctx, &organisation, &resource).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/resources/{}", resource.id)))
        .insert_header(("ETag", entity_tag(&body.version)))
        .json(body))
}

#[utoipa::path(
    get, path = "/api/v1/resources/{id}", tag = "resources",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = ResourceBody, headers(("ETag" = String))),
        (status = 304),
        (status = 404, body = super::problem::Problem)
    ),
    security(("bearer" = ["resources.read"]))
)]
pub async fn show(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (organisation, resource) = caller
        .resource(&ctx, &id, Permission::ReadResources)
        .await?;
    let tag = entity_tag(&resource.version.to_string());
    if not_modified(&req, &tag) {
        return Ok(super::not_modified_response(&tag));
    }
    let body = body_of(&ctx, &organisation, &resource).await?;
    Ok(json_with_tag(StatusCode::OK, &body, Some(&tag)))
}

/// A change; absent fields stay as they are, `null` clears `assigned_to` and `end_date`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceChangeBody {
    pub restricted: Option<bool>,
    /// A member's username, or null for nobody.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub assigned_to: Option<Option<String>>,
    /// YYYY-MM-DD, or null for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub end_date: Option<Option<String>>,
    /// `retired` retires it (site-wide clients only).
    pub status: Option<String>,
    pub name: Option<String>,
    pub site: Option<String>,
    pub description: Option<String>,
}

/// A field that is present (`Some`), maybe as `null` (`Some(None)`); absent is `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The members with these usernames (see `usecases::resources::members_by_username`), or
/// 422 naming each one who is not.
pub(super) async fn members_named(
    ctx: &AppContext,
    organisation: &Organisation,
    resource: &Resource,
    usernames: &[String],
    field: &str,
) -> Result<Vec<String>, ApiError> {
    members_by_username(ctx, resource, usernames)
        .await
        .map_err(|error| match error {
            NotMembers::These(strangers) => ApiError::Unprocessable {
                detail:
                    "Only the organisation's members can be given a resource; nothing was changed."
                        .into(),
                errors: strangers
                    .into_iter()
                    .map(|(index, username)| ItemError {
                        index,
                        field: field.to_string(),
                        message: format!(
                            "{username} is not a member of {}.",
                            organisation.short_name
                        ),
                    })
                    .collect(),
            },
            NotMembers::Store(error) => error.into(),
        })
}

#[utoipa::path(
    patch, path = "/api/v1/resources/{id}", tag = "resources",
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag read last")),
    request_body = ResourceChangeBody,
    responses(
        (status = 200, body = ResourceBody, headers(("ETag" = String))),
        (status = 403, body = super::problem::Problem),
        (status = 412, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem),
        (status = 428, body = super::problem::Problem)
    ),
    security(("bearer" = ["resources.manage"]))
)]
pub async fn update(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<ResourceChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let (organisation, resource) = caller
        .resource(&ctx, &id, Permission::ManageResources)
        .await?;
    require_if_match(&req, &entity_tag(&resource.version.to_string()))?;
    let body = body.into_inner();
    let assignee = match &body.assigned_to {
        Some(Some(username)) => Some(Some(
            members_named(
                &ctx,
                &organisation,
                &resource,
                std::slice::from_ref(username),
                "assigned_to",
            )
            .await?
            .remove(0),
        )),
        Some(None) => Some(None),
        None => None,
    };
    let end_date = match &body.end_date {
        Some(Some(date)) => Some(Some(
            EndDate::parse_optional(date, ctx.clock.today())
                .map_err(|error| ApiError::field("end_date", error.message))?
                .map(EndDate::to_iso)
                .ok_or_else(|| ApiError::field("end_date", "Send a date, or null for none."))?,
        )),
        Some(None) => Some(None),
        None => None,
    };
    let details = if body.name.is_some() || body.site.is_some() || body.description.is_some() {
        Some((
            OrganisationName::parse(body.name.as_deref().unwrap_or(&resource.name))
                .map_err(|error| ApiError::field("name", error.message))?,
            Site::parse(body.site.as_deref().unwrap_or(&resource.site))
                .map_err(|error| ApiError::field("site", error.message))?,
            Description::parse(body.description.as_deref().unwrap_or(&resource.description))
                .map_err(|error| ApiError::field("description", error.message))?,
        ))
    } else {
        None
    };
    let mut changes = Vec::new();
    if let Some((name, site, description)) = &details {
        changes.push(ResourceChange::Details {
            name: name.as_str(),
            site,
            description,
        });
    }
    if let Some(restricted) = body.restricted {
        changes.push(ResourceChange::Restrict(restricted));
    }
    if let Some(assignee) = &assignee {
        changes.push(ResourceChange::Assign(assignee.as_deref()));
    }
    if let Some(end_date) = &end_date {
        changes.push(ResourceChange::EndsOn(end_date.as_deref()));
    }
    match body.status.as_deref() {
        None => {}
        Some("retired") => changes.push(ResourceChange::Retire),
        Some(_) => {
            return Err(ApiError::field(
                "status",
                "The only status to set is retired.",
            ));
        }
    }
    if changes.is_empty() {
        return Err(ApiError::field(
            "restricted",
            "Send at least one of name, site, description, restricted, assigned_to, end_date and status.",
        ));
    }
    change_resource(
        &ctx,
        &resource,
        resource.version,
        caller.resource_actor(),
        &changes,
    )
    .await
    .map_err(resource_error)?;
    respond_with_current(&ctx, &organisation, &resource.id).await
}

pub(super) async fn respond_with_current(
    ctx: &AppContext,
    organisation: &Organisation,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    let resource = ctx.store.resource(id).await?.ok_or(ApiError::NotFound)?;
    let body = body_of(ctx, organisation, &resource).await?;
    let tag = entity_tag(&body.version);
    Ok(json_with_tag(StatusCode::OK, &body, Some(&tag)))
}
