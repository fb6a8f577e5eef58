//! `/api/v1/orgs/{short}/members`: paging through members with a cursor, and the
//! versioned batch change (`PATCH`, all or nothing).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::ItemError;
use super::{ApiCaller, ApiError, entity_tag, json_with_tag, not_modified, require_if_match};
use crate::context::AppContext;
use crate::domain::{Email, EndDate, ExistingUsername, Permission, Role};
use crate::store::memberships::Member;
use crate::usecases::member_batch::{
    AddItem, BatchError, MAX_BATCH_ITEMS, MemberBatch, MemberRef, UpdateItem, apply_member_batch,
};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    pub person_id: String,
    pub username: Option<String>,
    pub email: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub role: String,
    pub end_date: Option<String>,
    /// `active`, `locked` or `deleted`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberBody>,
    /// Pass as `after` for the next page; `null` on the last one.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MemberQuery {
    /// Members per page, 1 to 1,000 (default 100).
    limit: Option<i64>,
    /// The `next` of the previous page.
    after: Option<String>,
}

fn body_of(member: &Member) -> MemberBody {
    MemberBody {
        person_id: member.person_id.clone(),
        username: member.username.clone(),
        email: member.email.clone(),
        surname: member.surname.clone(),
        given_name: member.given_name.clone(),
        role: member.role.as_str().into(),
        end_date: member.ends_on.clone(),
        status: member.account_status.as_str().into(),
    }
}

#[utoipa::path(
    get, path = "/api/v1/orgs/{short}/members", tag = "members",
    params(("short" = String, Path), MemberQuery),
    responses(
        (status = 200, body = MemberList, headers(("ETag" = String, description = "The member list's version"))),
        (status = 304, description = "If-None-Match names the current ETag"),
        (status = 404, body = super::problem::Problem)
    ),
    security(("bearer" = ["org.view"]))
)]
pub async fn list(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    short: web::Path<String>,
    query: web::Query<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    let organisation = caller
        .organisation(&ctx, &short, Permission::ViewOrganisation)
        .await?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            "Ask for 1 to 1000 members a page.",
        ));
    }
    let after = match query.after.as_deref().filter(|after| !after.is_empty()) {
        None => None,
        Some(cursor) => Some(
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| ApiError::field("after", "Pass the `next` of the previous page."))?,
        ),
    };
    let tag = entity_tag(&organisation.members_version.to_string());
    if not_modified(&req, &tag) {
        return Ok(super::not_modified_response(&tag));
    }
    let slice = ctx
        .store
        .members_after(
            &organisation.id,
            after.as_deref(),
            limit,
            organisation.members_version,
        )
        .await?;
    let body = MemberList {
        members: slice.members.iter().map(body_of).collect(),
        next: slice.next.as_ref().map(|key| URL_SAFE_NO_PAD.encode(key)),
    };
    Ok(json_with_tag(StatusCode::OK, &body, Some(&tag)))
}

/// Tells a field sent as `null` (clear it) from one left out (keep it).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    pub email: Option<String>,
    pub username: Option<String>,
    /// `member` (default), `manager` or `owner`.
    pub role: Option<String>,
    /// YYYY-MM-DD.
    pub end_date: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    pub email: Option<String>,
    pub username: Option<String>,
    pub role: Option<String>,
    /// YYYY-MM-DD, or `null` to clear; left out, it is kept.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub end_date: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    pub email: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBatchBody {
    #[serde(default)]
    pub add: Vec<AddBody>,
    #[serde(default)]
    pub update: Vec<UpdateBody>,
    #[serde(default)]
    pub remove: Vec<RemoveBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeBody {
    /// `add`, `update` or `remove`.
    pub op: String,
    pub person_id: String,
    pub username: Option<String>,
    pub email: String,
    pub role: Option<String>,
    pub end_date: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// The member list's new version (also the ETag).
    pub version: String,
    pub changes: Vec<ChangeBody>,
}

/// Collects what is wrong with each item, naming it `list[index].field`.
struct Problems(Vec<ItemError>);

impl Problems {
    fn add(&mut self, list: &str, index: usize, field: &str, message: impl Into<String>) {
        self.0.push(ItemError {
            index,
            field: format!("{list}[{index}].{field}"),
            message: message.into(),
        });
    }

    fn who(
        &mut self,
        list: &str,
        index: usize,
        email: Option<&str>,
        username: Option<&str>,
    ) -> Option<MemberRef> {
        match (email, username) {
            (Some(email), None) => match Email::parse(email) {
                Ok(email) => Some(MemberRef::Email(email)),
                Err(error) => {
                    self.add(list, index, "email", error.message);
                    None
                }
            },
            (None, Some(username)) => match ExistingUsername::parse(username) {
                Ok(username) => Some(MemberRef::Username(username)),
                Err(error) => {
                    self.add(list, index, "username", error.message);
                    None
                }
            },
            _ => {
                self.add(
                    list,
                    index,
                    "email",
                    "Name the person by either email or username.",
                );
                None
            }
        }
    }

    fn role(&mut self, list: &str, index: usize, role: &str) -> Option<Role> {
        let parsed = Role::parse(role).filter(|role| Role::ORGANISATION_ROLES.contains(role));
        if parsed.is_none() {
            self.add(list, index, "role", "Use one of member, manager or owner.");
        }
        parsed
    }

    fn end_date(
        &mut self,
        list: &str,
        index: usize,
        value: &str,
        today: time::Date,
    ) -> Option<Option<EndDate>> {
        match EndDate::parse_optional(value, today) {
            Ok(date) => Some(date),
            Err(error) => {
                self.add(list, index, "end_date", error.message);
                None
            }
        }
    }
}

/// Parses every item, reporting all that are malformed at once.
fn parse_batch(body: MemberBatchBody, today: time::Date) -> Result<MemberBatch, Vec<ItemError>> {
    let mut problems = Problems(Vec::new());
    let mut batch = MemberBatch::default();
    for (index, item) in body.add.iter().enumerate() {
        let who = problems.who(
            "add",
            index,
            item.email.as_deref(),
            item.username.as_deref(),
        );
        let role = problems.role("add", index, item.role.as_deref().unwrap_or("member"));
        let ends_on =
            problems.end_date("add", index, item.end_date.as_deref().unwrap_or(""), today);
        if let (Some(who), Some(role), Some(ends_on)) = (who, role, ends_on) {
            batch.add.push(AddItem { who, role, ends_on });
        }
    }
    for (index, item) in body.update.iter().enumerate() {
        let who = problems.who(
            "update",
            index,
            item.email.as_deref(),
            item.username.as_deref(),
        );
        let role = match item.role.as_deref() {
            Some(role) => problems.role("update", index, role).map(Some),
            None => Some(None),
        };
        let ends_on = match &item.end_date {
            None => Some(None),
            Some(value) => problems
                .end_date("update", index, value.as_deref().unwrap_or(""), today)
                .map(Some),
        };
        if item.role.is_none() && item.end_date.is_none() {
            problems.add("update", index, "role", "Send a role, an end_date or both.");
            continue;
        }
        if let (Some(who), Some(role), Some(ends_on)) = (who, role, ends_on) {
            batch.update.push(UpdateItem { who, role, ends_on });
        }
    }
    for (index, item) in body.remove.iter().enumerate() {
        if let Some(who) = problems.who(
            "remove",
            index,
            item.email.as_deref(),
            item.username.as_deref(),
        ) {
            batch.remove.push(who);
        }
    }
    if problems.0.is_empty() {
        Ok(batch)
    } else {
        Err(problems.0)
    }
}

fn invalid(errors: Vec<ItemError>) -> ApiError {
    ApiError::Unprocessable {
        detail: format!(
            "{} item(s) of the batch are invalid; nothing was changed.",
            errors.len()
        ),
        errors,
    }
}

#[utoipa::path(
    patch, path = "/api/v1/orgs/{short}/members", tag = "members",
    params(
        ("short" = String, Path),
        ("If-Match" = String, Header, description = "The member list's ETag, read last")
    ),
    request_body = MemberBatchBody,
    responses(
        (status = 200, body = BatchResult, headers(("ETag" = String))),
        (status = 412, body = super::problem::Problem, description = "The member list changed; read it again"),
        (status = 422, body = super::problem::Problem, description = "Items are invalid; nothing changed"),
        (status = 428, body = super::problem::Problem)
    ),
    security(("bearer" = ["members.manage"]))
)]
pub async fn change(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    short: web::Path<String>,
    body: web::Json<MemberBatchBody>,
) -> Result<HttpResponse, ApiError> {
    let organisation = caller
        .organisation(&ctx, &short, Permission::ManageMembers)
        .await?;
    // Checked here for a quick 412; the store checks the version again as it writes.
    let expected = organisation.members_version;
    require_if_match(&req, &entity_tag(&expected.to_string()))?;
    let body = body.into_inner();
    let items = body.add.len() + body.update.len() + body.remove.len();
    if items > MAX_BATCH_ITEMS {
        return Err(ApiError::Unprocessable {
            detail: format!(
                "A batch holds at most {MAX_BATCH_ITEMS} items; this one has {items}. \
                 Nothing was changed."
            ),
            errors: Vec::new(),
        });
    }
    let batch = parse_batch(body, ctx.clock.today()).map_err(invalid)?;
    let outcome = apply_member_batch(&ctx, caller.org_actor(), &organisation, expected, batch)
        .await
        .map_err(|error| match error {
            BatchError::Invalid(problems) => invalid(
                problems
                    .into_iter()
                    .map(|problem| ItemError {
                        index: problem.index,
                        field: format!("{}[{}].{}", problem.list, problem.index, problem.field),
                        message: problem.message,
                    })
                    .collect(),
            ),
            BatchError::Stale => ApiError::PreconditionFailed,
            BatchError::Directory(error) => {
                tracing::warn!(%error, "directory unavailable for a member batch");
                ApiError::Unavailable(
                    "The directory cannot be reached to look people up; nothing was changed. \
                     Try again shortly."
                        .into(),
                )
            }
            BatchError::Store(error) => ApiError::internal(error),
        })?;
    let version = outcome.version.to_string();
    let tag = entity_tag(&version);
    let body = BatchResult {
        version,
        changes: outcome
            .changes
            .into_iter()
            .map(|change| ChangeBody {
                op: change.op.into(),
                person_id: change.person_id,
                username: change.username,
                email: change.email,
                role: change.role.map(|role| role.as_str().into()),
                end_date: change.ends_on,
            })
            .collect(),
    };
    Ok(json_with_tag(StatusCode::OK, &body, Some(&tag)))
}
