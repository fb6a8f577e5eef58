//! `/api/v1/people` (the directory search, under the same rules as the page) and
//! `/api/v1/roles`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiCaller, ApiError, json_with_tag};
use crate::context::AppContext;
use crate::domain::{DIRECTORY_SEARCH_LIMIT, Permission, SearchText};

#[derive(Debug, Deserialize, IntoParams)]
pub struct PeopleQuery {
    /// At least 2 characters of a name, email or username.
    q: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryPersonBody {
    pub username: String,
    pub email: Option<String>,
    pub surname: String,
    pub given_name: Option<String>,
    pub dn: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeopleList {
    pub people: Vec<DirectoryPersonBody>,
    /// More people matched than the 500 returned: narrow the search.
    pub truncated: bool,
    /// `index` (Roster's copy of the directory, refreshed every minute or so) or
    /// `directory` (LDAP itself, while the copy was never loaded).
    pub source: &'static str,
}

#[utoipa::path(
    get, path = "/api/v1/people", tag = "directory",
    params(PeopleQuery),
    responses((status = 200, body = PeopleList), (status = 422, body = super::problem::Problem)),
    security(("bearer" = ["directory.search"]))
)]
pub async fn people(
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    query: web::Query<PeopleQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::SearchDirectory)?;
    let text = SearchText::parse_directory_query(query.q.as_deref().unwrap_or(""))
        .map_err(|error| ApiError::field("q", error.message))?
        .ok_or_else(|| ApiError::field("q", "Type at least 2 characters to search."))?;
    let results =
        crate::usecases::people_search::search_people(&ctx, &text, DIRECTORY_SEARCH_LIMIT)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "directory search failed");
                ApiError::Unavailable("The directory is not answering; try again shortly.".into())
            })?;
    let body = PeopleList {
        people: results
            .people
            .into_iter()
            .map(|person| DirectoryPersonBody {
                username: person.uid,
                email: person.email,
                surname: person.surname,
                given_name: person.given_name,
                dn: person.dn,
            })
            .collect(),
        truncated: results.truncated,
        source: match results.source {
            crate::usecases::people_search::Source::Index => "index",
            crate::usecases::people_search::Source::Directory => "directory",
        },
    };
    Ok(json_with_tag(StatusCode::OK, &body, None))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBody {
    pub name: String,
    pub label: String,
    /// `site` or `organisation`.
    pub scope: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    pub roles: Vec<RoleBody>,
}

#[utoipa::path(
    get, path = "/api/v1/roles", tag = "directory",
    responses((status = 200, body = RoleList)),
    security(("bearer" = []))
)]
pub async fn roles(
    ctx: web::Data<AppContext>,
    _caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let roles = ctx
        .store
        .role_permissions()
        .await?
        .into_iter()
        .map(|(role, permissions)| RoleBody {
            name: role.as_str().into(),
            label: role.label().into(),
            scope: if role.is_site_wide() {
                "site"
            } else {
                "organisation"
            }
            .into(),
            permissions: permissions.iter().map(|p| p.as_str().into()).collect(),
        })
        .collect();
    Ok(json_with_tag(StatusCode::OK, &RoleList { roles }, None))
}
