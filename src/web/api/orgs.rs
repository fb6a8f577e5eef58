//! `/api/v1/orgs`: the organisations a token may see, and changing their name and
//! description under `If-Match`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiCaller, ApiError, entity_tag, json_with_tag, not_modified, require_if_match};
use crate::context::AppContext;
use crate::domain::{Description, OrganisationName, Permission};
use crate::store::organisations::Organisation;
use crate::usecases::organisations::{MembershipError, update_details};

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationBody {
    pub short_name: String,
    pub name: String,
    pub description: String,
    pub gid_number: i64,
    pub member_count: i64,
    /// The same value as the ETag, without quotes; changes with every edit and every
    /// change of membership.
    pub version: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationList {
    pub orgs: Vec<OrganisationBody>,
}

/// The organisation's version: its own edits and its member list's changes.
pub fn version_of(organisation: &Organisation) -> String {
    format!("{}-{}", organisation.version, organisation.members_version)
}

fn body_of(organisation: &Organisation) -> OrganisationBody {
    OrganisationBody {
        short_name: organisation.short_name.clone(),
        name: organisation.name.clone(),
        description: organisation.description.clone(),
        gid_number: organisation.gid_number,
        member_count: organisation.member_count,
        version: version_of(organisation),
    }
}

#[utoipa::path(
    get, path = "/api/v1/orgs", tag = "organisations",
    responses((status = 200, body = OrganisationList), (status = 401, body = super::problem::Problem)),
    security(("bearer" = ["org.view"]))
)]
pub async fn list(ctx: web::Data<AppContext>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewOrganisation)?;
    let orgs = ctx
        .store
        .all_organisations()
        .await?
        .iter()
        .filter(|organisation| caller.may_see(organisation))
        .map(body_of)
        .collect();
    Ok(json_with_tag(
        StatusCode::OK,
        &OrganisationList { orgs },
        None,
    ))
}

#[utoipa::path(
    get, path = "/api/v1/orgs/{short}", tag = "organisations",
    params(("short" = String, Path, description = "The organisation's short name")),
    responses(
        (status = 200, body = OrganisationBody, headers(("ETag" = String))),
        (status = 304, description = "If-None-Match names the current ETag"),
        (status = 404, body = super::problem::Problem)
    ),
    security(("bearer" = ["org.view"]))
)]
pub async fn show(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    short: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let organisation = caller
        .organisation(&ctx, &short, Permission::ViewOrganisation)
        .await?;
    let tag = entity_tag(&version_of(&organisation));
    if not_modified(&req, &tag) {
        return Ok(super::not_modified_response(&tag));
    }
    Ok(json_with_tag(
        StatusCode::OK,
        &body_of(&organisation),
        Some(&tag),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationChange {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[utoipa::path(
    patch, path = "/api/v1/orgs/{short}", tag = "organisations",
    params(
        ("short" = String, Path, description = "The organisation's short name"),
        ("If-Match" = String, Header, description = "The ETag read last")
    ),
    request_body = OrganisationChange,
    responses(
        (status = 200, body = OrganisationBody, headers(("ETag" = String))),
        (status = 412, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem),
        (status = 428, body = super::problem::Problem)
    ),
    security(("bearer" = ["org.edit"]))
)]
pub async fn update(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    short: web::Path<String>,
    change: web::Json<OrganisationChange>,
) -> Result<HttpResponse, ApiError> {
    let organisation = caller
        .organisation(&ctx, &short, Permission::EditOrganisation)
        .await?;
    require_if_match(&req, &entity_tag(&version_of(&organisation)))?;
    let change = change.into_inner();
    let name = change
        .name
        .as_deref()
        .map(OrganisationName::parse)
        .transpose()
        .map_err(|error| ApiError::field("name", error.message))?;
    let description = change
        .description
        .as_deref()
        .map(Description::parse)
        .transpose()
        .map_err(|error| ApiError::field("description", error.message))?;
    if name.is_none() && description.is_none() {
        return Err(ApiError::field(
            "name",
            "Send a name, a description or both.",
        ));
    }
    update_details(
        &ctx,
        caller.org_actor(),
        &organisation,
        organisation.version,
        name.as_ref(),
        description.as_ref(),
    )
    .await
    .map_err(|error| match error {
        MembershipError::Stale => ApiError::PreconditionFailed,
        other => ApiError::internal(other),
    })?;
    let organisation = ctx
        .store
        .organisation(&organisation.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let tag = entity_tag(&version_of(&organisation));
    Ok(json_with_tag(
        StatusCode::OK,
        &body_of(&organisation),
        Some(&tag),
    ))
}
