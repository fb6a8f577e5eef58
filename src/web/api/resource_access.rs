//! `PUT /api/v1/resources/{id}/access-list` and `GET /api/v1/resources/{id}/access`: who
//! may use a restricted resource, and the check a device gateway makes before letting
//! someone in.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::resources::{members_named, resource_error, respond_with_current};
use super::{ApiCaller, ApiError, entity_tag, require_if_match};
use crate::context::AppContext;
use crate::domain::Permission;
use crate::store::resources::ResourceChange;
use crate::usecases::resources::{access, change_resource};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessListBody {
    /// The members who may use the resource while it is restricted; the whole list.
    pub usernames: Vec<String>,
}

#[utoipa::path(
    put, path = "/api/v1/resources/{id}/access-list", tag = "resources",
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag read last")),
    request_body = AccessListBody,
    responses(
        (status = 200, body = super::resources::ResourceBody, headers(("ETag" = String))),
        (status = 412, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem),
        (status = 428, body = super::problem::Problem)
    ),
    security(("bearer" = ["resources.manage"]))
)]
pub async fn put_access_list(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<AccessListBody>,
) -> Result<HttpResponse, ApiError> {
    let (organisation, resource) = caller
        .resource(&ctx, &id, Permission::ManageResources)
        .await?;
    require_if_match(&req, &entity_tag(&resource.version.to_string()))?;
    let people =
        members_named(&ctx, &organisation, &resource, &body.usernames, "usernames").await?;
    change_resource(
        &ctx,
        &resource,
        resource.version,
        caller.resource_actor(),
        &[ResourceChange::AccessList(&people)],
    )
    .await
    .map_err(resource_error)?;
    respond_with_current(&ctx, &organisation, &resource.id).await
}

#[derive(Debug, Deserialize)]
pub struct AccessQuery {
    username: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessAnswer {
    pub allowed: bool,
    /// `role`, `listed` or `assigned` when allowed; `not a member`, `membership ended`,
    /// `locked`, `retired` or `not listed` when not.
    pub reason: String,
}

#[utoipa::path(
    get, path = "/api/v1/resources/{id}/access", tag = "resources",
    params(("id" = String, Path), ("username" = String, Query)),
    responses((status = 200, body = AccessAnswer), (status = 404, body = super::problem::Problem)),
    security(("bearer" = ["resources.read"]))
)]
pub async fn check_access(
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    id: web::Path<String>,
    query: web::Query<AccessQuery>,
) -> Result<HttpResponse, ApiError> {
    let (_, resource) = caller
        .resource(&ctx, &id, Permission::ReadResources)
        .await?;
    let decision = access(&ctx, &resource, &query.username).await?;
    let answer = match decision {
        Some(access) => AccessAnswer {
            allowed: access.allowed(),
            reason: access.reason().into(),
        },
        // Nobody with that username is a member of anything here.
        None => AccessAnswer {
            allowed: false,
            reason: crate::domain::Access::NotMember.reason().into(),
        },
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(answer))
}
