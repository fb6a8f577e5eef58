//! The automation API under `/api/v1`: JSON in and out, Bearer access tokens only (cookies
//! are ignored, so CSRF does not apply), problem+json errors, ETags on everything
//! versioned, and a per-client rate limit counted in the database. Handlers parse, call
//! the same `usecases` as the pages, and render JSON.

use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};

use crate::context::AppContext;
use crate::domain::{Permission, Scopes, ShortName};
use crate::store::organisations::Organisation;
use crate::usecases::Actor;
use crate::usecases::clients::{AdmitError, RateState, admit, issuer};
use crate::usecases::organisations::OrgActor;

pub mod directory;
pub mod invitation_batch;
pub mod invitations;
pub mod members;
pub mod openapi;
pub mod orgs;
pub mod problem;
pub mod resource_access;
pub mod resources;

pub use problem::ApiError;

/// Largest JSON body accepted: a batch of 1,000 items fits with room to spare.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Declares the API's routes once, like `web::routes!`: registered under the
/// authenticating scope and listed for the authorization-matrix test.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every route of the API that needs a token, as (method, path pattern).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), concat!("/api/v1", $path))),*];

        fn authenticated_routes(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

api_routes! {
    get "/orgs" => orgs::list,
    get "/orgs/{short}" => orgs::show,
    patch "/orgs/{short}" => orgs::update,
    get "/orgs/{short}/members" => members::list,
    patch "/orgs/{short}/members" => members::change,
    get "/orgs/{short}/invitations" => invitations::list,
    post "/orgs/{short}/invitations" => invitation_batch::create,
    post "/orgs/{short}/invitations/{id}/resend" => invitations::resend,
    delete "/orgs/{short}/invitations/{id}" => invitations::withdraw,
    get "/orgs/{short}/resources" => resources::list,
    post "/orgs/{short}/resources" => resources::create,
    get "/resources/{id}" => resources::show,
    patch "/resources/{id}" => resources::update,
    put "/resources/{id}/access-list" => resource_access::put_access_list,
    get "/resources/{id}/access" => resource_access::check_access,
    get "/people" => directory::people,
    get "/roles" => directory::roles,
}

/// Registers the API: the public OpenAPI document, then everything else behind tokens.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/openapi.json", web::get().to(openapi::document))
        .service(
            web::scope("/api/v1")
                .app_data(
                    web::JsonConfig::default()
                        .limit(MAX_BODY_BYTES)
                        .error_handler(|error, _| json_error(error).into()),
                )
                .app_data(
                    web::QueryConfig::default().error_handler(|error, _| query_error(error).into()),
                )
                .wrap(from_fn(authenticate))
                .configure(authenticated_routes)
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ApiError::NotFound)
                })),
        );
}

fn json_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::TooLarge(MAX_BODY_BYTES)
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType("application/json"),
        other => ApiError::BadRequest(format!(
            "The body is not valid JSON for this request: {other}"
        )),
    }
}

fn query_error(error: QueryPayloadError) -> ApiError {
    ApiError::BadRequest(format!("The query string is invalid: {error}"))
}

/// The client a request comes from, as its access token says.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub client_id: String,
    /// The organisation the token is for; `None` for a site-wide client.
    pub org: Option<String>,
    pub permissions: Scopes,
    pub client_ip: Option<String>,
}

impl ApiCaller {
    /// Refuses with 403 (`insufficient_scope`) unless the token carries `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(permission))
        }
    }

    /// Whether the token is for this organisation (site-wide tokens are for all).
    pub fn may_see(&self, organisation: &Organisation) -> bool {
        self.org
            .as_deref()
            .is_none_or(|short| short == organisation.short_name)
    }

    /// The organisation `short` names, if the token is for it (404 otherwise, whether or
    /// not it exists) and carries `permission` (403).
    pub async fn organisation(
        &self,
        ctx: &AppContext,
        short: &str,
        permission: Permission,
    ) -> Result<Organisation, ApiError> {
        if self.org.as_deref().is_some_and(|own| own != short) {
            return Err(ApiError::NotFound);
        }
        let short = ShortName::parse(short).map_err(|_| ApiError::NotFound)?;
        let organisation = ctx
            .store
            .organisation_by_short_name(&short)
            .await
            .map_err(ApiError::internal)?
            .ok_or(ApiError::NotFound)?;
        self.require(permission)?;
        Ok(organisation)
    }

    /// This client acting in an organisation, as the use cases take it.
    pub fn org_actor(&self) -> OrgActor<'_> {
        OrgActor {
            actor: Actor::Client(&self.client_id),
            client_ip: self.client_ip.as_deref(),
            may_grant_manager: self.permissions.contains(Permission::GrantManager),
        }
    }
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<ApiCaller>()
                .cloned()
                .ok_or_else(|| ApiError::InvalidToken("no access token".into())),
        )
    }
}

/// The token from `Authorization: Bearer …` (RFC 6750 §2.1); cookies are never read.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::InvalidToken("send an access token as Authorization: Bearer".into())
        })?
        .to_str()
        .map_err(|_| ApiError::InvalidToken("the Authorization header is malformed".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::InvalidToken("the Authorization header is malformed".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::InvalidToken(
            "send an access token as Authorization: Bearer".into(),
        ));
    }
    Ok(token.trim())
}

/// Verifies the access token, counts the request against the client's limit, and adds
/// the `RateLimit-*` headers to whatever the handler answers.
async fn authenticate<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    match admit_request(&req).await {
        Ok((caller, rate)) => {
            req.extensions_mut()
                .insert(crate::web::middleware::LoggedActor(format!(
                    "client:{}",
                    caller.client_id
                )));
            req.extensions_mut().insert(caller);
            let mut response = next.call(req).await?;
            rate_headers(response.headers_mut(), rate);
            Ok(response.map_into_left_body())
        }
        Err((error, rate)) => {
            let mut response = req.error_response(error);
            if let Some(rate) = rate {
                rate_headers(response.headers_mut(), rate);
            }
            Ok(response.map_into_right_body())
        }
    }
}

async fn admit_request(
    req: &ServiceRequest,
) -> Result<(ApiCaller, RateState), (ApiError, Option<RateState>)> {
    let ctx = req
        .app_data::<web::Data<AppContext>>()
        .ok_or_else(|| (ApiError::internal("no application context"), None))?;
    let token = bearer_token(req.headers()).map_err(|error| (error, None))?;
    let now = ctx.clock.now();
    let claims = ctx
        .keys
        .verify(token, &issuer(ctx), &ctx.settings.api.audience, now)
        .await
        .map_err(|error| {
            tracing::info!(%error, "access token refused");
            let detail = match error {
                crate::auth::tokens::TokenError::Expired => "the access token has expired",
                crate::auth::tokens::TokenError::Store(_) => {
                    return (ApiError::internal(error), None);
                }
                crate::auth::tokens::TokenError::Invalid(_) => "the access token is not valid",
            };
            (ApiError::InvalidToken(detail.into()), None)
        })?;
    let permissions =
        Scopes::from_names(claims.permissions.iter().map(String::as_str)).map_err(|_| {
            (
                ApiError::InvalidToken("the token names unknown permissions".into()),
                None,
            )
        })?;
    let address = crate::web::client_ip(req.request(), ctx.settings.server.trust_forwarded_for);
    let rate = match admit(ctx, &claims.client_id, address).await {
        Ok(rate) => rate,
        Err(AdmitError::Refused) => {
            return Err((
                ApiError::InvalidToken("the client was revoked or may not call from here".into()),
                None,
            ));
        }
        Err(AdmitError::RateLimited(rate)) => {
            return Err((ApiError::RateLimited(rate), Some(rate)));
        }
        Err(AdmitError::Store(error)) => return Err((ApiError::internal(error), None)),
    };
    Ok((
        ApiCaller {
            client_id: claims.client_id,
            org: claims.org,
            permissions,
            client_ip: address.map(|ip| ip.to_string()),
        },
        rate,
    ))
}

/// The `RateLimit-*` headers (IETF httpapi rate-limit headers) for a client's window.
pub fn rate_headers(headers: &mut HeaderMap, rate: RateState) {
    for (name, value) in [
        ("ratelimit-limit", i64::from(rate.limit)),
        ("ratelimit-remaining", i64::from(rate.remaining)),
        ("ratelimit-reset", rate.reset_seconds),
    ] {
        headers.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from(value),
        );
    }
}

/// A quoted strong entity tag.
pub fn entity_tag(version: &str) -> String {
    format!("\"{version}\"")
}

/// True when `If-None-Match` names the current tag (or `*`): answer 304.
pub fn not_modified(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == "*" || candidate == tag)
}

/// Requires `If-Match` naming the current tag: 428 without it, 412 when stale.
pub fn require_if_match(req: &HttpRequest, tag: &str) -> Result<(), ApiError> {
    let values: Vec<&str> = req
        .headers()
        .get_all(header::IF_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect();
    if values.is_empty() {
        return Err(ApiError::PreconditionRequired);
    }
    // Strong comparison (RFC 9110 §13.1.1): a weak tag never matches.
    if values.iter().any(|value| *value == "*" || *value == tag) {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// A JSON answer with its ETag.
pub fn json_with_tag<T: serde::Serialize>(
    status: actix_web::http::StatusCode,
    body: &T,
    tag: Option<&str>,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-cache"));
    if let Some(tag) = tag {
        response.insert_header((header::ETAG, tag.to_string()));
    }
    response.json(body)
}

/// 304 with the tag, for a client whose copy is current.
pub fn not_modified_response(tag: &str) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, tag.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .finish()
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        ApiError::internal(error)
    }
}

/// A time as RFC 3339, as JSON carries it.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
