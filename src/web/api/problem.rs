//! The API's errors as RFC 9457 problem details (`application/problem+json`), with the
//! RFC 6750 `WWW-Authenticate` challenge on 401 and 403.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Permission;
use crate::usecases::clients::RateState;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One item of a request that is wrong, e.g. `{"index": 3, "field": "add[3].email"}`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ItemError {
    /// Position of the item in its list.
    pub index: usize,
    /// Where the problem is, as `list[index].field`.
    pub field: String,
    pub message: String,
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ItemError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing, malformed, expired, forged or revoked token.
    #[error("{0}")]
    InvalidToken(String),
    #[error("this needs the permission {}", .0.as_str())]
    InsufficientScope(Permission),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("send If-Match with the version you read")]
    PreconditionRequired,
    #[error("the version in If-Match is not the current one")]
    PreconditionFailed,
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<ItemError>,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("rate limit exceeded")]
    RateLimited(RateState),
    #[error("{0}")]
    Unavailable(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The media types the route accepts, e.g. `application/json`.
    #[error("send the body as {0}")]
    UnsupportedMediaType(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    /// One field of the request is wrong.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            detail: "The request has an invalid field; nothing was changed.".into(),
            errors: vec![ItemError {
                index: 0,
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::InvalidToken(_) => ("invalid-token", "Invalid access token"),
            ApiError::InsufficientScope(_) => ("insufficient-scope", "Permission missing"),
            ApiError::NotFound => ("not-found", "Not found"),
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::PreconditionRequired => ("if-match-required", "If-Match required"),
            ApiError::PreconditionFailed => ("stale-version", "Version is stale"),
            ApiError::Unprocessable { .. } => ("invalid-items", "Invalid request"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::RateLimited(_) => ("rate-limited", "Too many requests"),
            ApiError::Unavailable(_) => ("unavailable", "Temporarily unavailable"),
            ApiError::TooLarge(_) => ("too-large", "Body too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::Internal(_) => ("internal", "Internal error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::NotFound => "There is no such resource, or this token is not for it.".into(),
            ApiError::PreconditionRequired => {
                "Send If-Match with the ETag you read, so that changes made meanwhile are \
                 not overwritten."
                    .into()
            }
            ApiError::PreconditionFailed => {
                "Someone changed this since you read it; nothing was changed. Read it again \
                 for the current ETag and retry."
                    .into()
            }
            ApiError::RateLimited(rate) => format!(
                "This client may make {} requests a minute; wait {} seconds.",
                rate.limit, rate.reset_seconds
            ),
            // The cause is in the log; the caller gets the request id instead.
            ApiError::Internal(_) => "Roster could not complete the request.".into(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "API request failed");
        }
        let (slug, title) = self.slug_and_title();
        let problem = Problem {
            kind: format!("https://roster.invalid/problems/{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Unprocessable { errors, .. } => errors.clone(),
                _ => Vec::new(),
            },
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            ApiError::InvalidToken(detail) => {
                let description = detail.replace(['"', '\\'], "'");
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"roster\", error=\"invalid_token\", \
                         error_description=\"{description}\""
                    ),
                ));
            }
            ApiError::InsufficientScope(permission) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"roster\", error=\"insufficient_scope\", scope=\"{}\"",
                        permission.as_str()
                    ),
                ));
            }
            ApiError::RateLimited(rate) => {
                response.insert_header((header::RETRY_AFTER, rate.reset_seconds.to_string()));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "30"));
            }
            _ => {}
        }
        let body = serde_json::to_string(&problem).unwrap_or_else(|_| "{}".into());
        response.content_type(PROBLEM_JSON).body(body)
    }
}
