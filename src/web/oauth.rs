//! The OAuth 2.0 side of the API: the token endpoint (client credentials, RFC 6749 §4.4),
//! the JWKS that verifies its tokens, and the RFC 8414 authorization server metadata.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::context::AppContext;
use crate::domain::Permission;
use crate::usecases::clients::{RateState, TokenRefusal, TokenRequest, issue_token, issuer};
use crate::web::api::rate_headers;

/// The form of a token request; client credentials may also come by HTTP Basic.
#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Serialize)]
struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

#[derive(Serialize)]
struct OAuthErrorBody {
    error: &'static str,
    error_description: String,
}

/// An RFC 6749 §5.2 error answer.
fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"roster\""));
    }
    response.json(OAuthErrorBody {
        error,
        error_description: description.into(),
    })
}

/// Client id and secret from `Authorization: Basic` (RFC 6749 §2.3.1: each
/// form-urlencoded, then joined by a colon).
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let Some(decoded) = decoded else {
        return Some(Err(()));
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return Some(Err(()));
    };
    let unescape = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|value| value.into_owned())
    };
    match (unescape(id), unescape(secret)) {
        (Some(id), Some(secret)) => Some(Ok((id, secret))),
        _ => Some(Err(())),
    }
}

pub async fn token(req: HttpRequest, ctx: web::Data<AppContext>, body: web::Bytes) -> HttpResponse {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the request as application/x-www-form-urlencoded",
        );
    }
    let Ok(form) = serde_urlencoded::from_bytes::<TokenForm>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the form could not be read",
        );
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
    }
    let from_form = form.client_id.clone().zip(form.client_secret.clone());
    let (client_id, client_secret) = match (basic_credentials(req.headers()), from_form) {
        // RFC 6749 §2.3: a client uses one authentication method per request.
        (Some(_), Some(_)) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send the client credentials either by HTTP Basic or in the form, not both",
            );
        }
        (Some(Ok(credentials)), None) => credentials,
        (None, Some(credentials)) => credentials,
        (Some(Err(())), None) | (None, None) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "authenticate the client by HTTP Basic or with client_id and client_secret",
            );
        }
    };
    let address = crate::web::client_ip(&req, ctx.settings.server.trust_forwarded_for);
    let issued = issue_token(
        &ctx,
        TokenRequest {
            client_id: &client_id,
            client_secret: &client_secret,
            scope: form.scope.as_deref(),
            address,
        },
    )
    .await;
    match issued {
        Ok(issued) => {
            let mut response = HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(TokenAnswer {
                    access_token: issued.access_token,
                    token_type: "Bearer",
                    expires_in: issued.expires_in,
                    scope: issued.scope,
                });
            rate_headers(response.headers_mut(), issued.rate);
            response
        }
        Err(TokenRefusal::InvalidClient) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client, wrong secret, or a client that is revoked, expired or not allowed from this address",
        ),
        Err(TokenRefusal::InvalidScope) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "the scope names a permission the client does not hold",
        ),
        Err(TokenRefusal::RateLimited(rate)) => rate_limited(rate),
        Err(error) => {
            tracing::error!(%error, "token endpoint failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the token could not be issued",
            )
        }
    }
}

fn rate_limited(rate: RateState) -> HttpResponse {
    let mut response = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        "slow_down",
        &format!(
            "this client may make {} requests a minute; wait {} seconds",
            rate.limit, rate.reset_seconds
        ),
    );
    rate_headers(response.headers_mut(), rate);
    if let Ok(value) = header::HeaderValue::from_str(&rate.reset_seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

pub async fn jwks(ctx: web::Data<AppContext>) -> HttpResponse {
    match ctx.keys.jwks(ctx.clock.now()).await {
        Ok(set) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "max-age=60"))
            .json(set),
        Err(error) => {
            tracing::error!(%error, "JWKS unavailable");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "30"))
                .json(serde_json::json!({"error": "keys unavailable"}))
        }
    }
}

/// RFC 8414 authorization server metadata.
pub async fn metadata(ctx: web::Data<AppContext>) -> HttpResponse {
    let issuer = issuer(&ctx);
    let scopes: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "max-age=300"))
        .json(serde_json::json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/oauth/token"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": [],
            "scopes_supported": scopes,
            "service_documentation": format!("{issuer}/api/v1/openapi.json"),
        }))
}
