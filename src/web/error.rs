//! One error type for handlers. User mistakes become a 4xx page with a clear message; our
//! own failures become a 500 page carrying the request id, with details only in the log.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, ResponseError};

/// What the error page shows. Stored in the response so the error-page middleware, which
/// knows the request id, can render it.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("not found: {title}")]
    NotFoundWith { title: String, message: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("CSRF token missing or wrong")]
    CsrfRejected,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("request body too large")]
    TooLarge,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("gone: {title}")]
    Gone { title: String, message: String },
    #[error("too many requests")]
    TooManyRequests { retry_after_seconds: u64 },
    /// Too many passwords are being checked at this moment.
    #[error("busy")]
    Busy,
    #[error("sign-in required")]
    SignInRequired,
    /// The person must first set up their POSIX account.
    #[error("account set-up required")]
    SetupRequired,
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl WebError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    fn page(&self) -> ErrorPage {
        let page = |title: &str, message: &str| ErrorPage {
            title: title.into(),
            message: message.into(),
        };
        match self {
            Self::NotFound => page(
                "Page not found",
                "There is no page at this address. Check the link, or go back to the start page.",
            ),
            Self::NotFoundWith { title, message } => page(title, message),
            Self::Conflict(message) => page("Already exists", message),
            Self::Forbidden(message) => page("Not allowed", message),
            Self::CsrfRejected => page(
                "Form expired",
                "This form has expired or did not come from Roster. Go back, reload the page and submit it again.",
            ),
            Self::BadRequest(message) => page("Request not understood", message),
            Self::TooLarge => page("Too large", "What you sent is too large to be accepted."),
            Self::Unavailable(message) => page("Temporarily unavailable", message),
            Self::Gone { title, message } => page(title, message),
            Self::TooManyRequests {
                retry_after_seconds,
            } => ErrorPage {
                title: "Too many attempts".into(),
                message: format!(
                    "There have been too many attempts. Wait {} and try again.",
                    describe_wait(*retry_after_seconds)
                ),
            },
            Self::Busy => page(
                "Busy for a moment",
                "Many people are signing in at this moment, and yours could not be checked in time. Nothing was changed. Wait a few seconds and try again.",
            ),
            Self::SignInRequired => page("Sign-in required", "Sign in to continue."),
            Self::SetupRequired => page("Set up your account", "Choose your username first."),
            Self::Internal(_) => page(
                "Something went wrong",
                "Roster could not complete this request. Nothing you did caused this. \
                 Try again in a moment; if it keeps happening, contact support and quote the request id below.",
            ),
        }
    }
}

/// What a busy answer suggests to wait before trying again.
const BUSY_RETRY_SECONDS: u64 = 5;

pub fn describe_wait(seconds: u64) -> String {
    match seconds {
        0..=1 => "a second".into(),
        2..=59 => format!("{seconds} seconds"),
        60..=119 => "a minute".into(),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound | Self::NotFoundWith { .. } => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Forbidden(_) | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Gone { .. } => StatusCode::GONE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::SignInRequired | Self::SetupRequired => StatusCode::SEE_OTHER,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignInRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((LOCATION, "/sign-in"))
                    .finish();
            }
            Self::SetupRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((LOCATION, "/account/setup"))
                    .finish();
            }
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::TooManyRequests {
            retry_after_seconds,
        } = self
        {
            response.insert_header(("Retry-After", retry_after_seconds.to_string()));
        }
        if let Self::Busy = self {
            response.insert_header(("Retry-After", BUSY_RETRY_SECONDS.to_string()));
        }
        let mut response = response.finish();
        response.extensions_mut().insert(self.page());
        response
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::internal(error)
    }
}

impl From<crate::auth::password::PasswordError> for WebError {
    fn from(error: crate::auth::password::PasswordError) -> Self {
        match error {
            crate::auth::password::PasswordError::Busy => Self::Busy,
            other => Self::internal(other),
        }
    }
}

impl From<crate::usecases::own_account::OwnAccountError> for WebError {
    fn from(error: crate::usecases::own_account::OwnAccountError) -> Self {
        use crate::usecases::own_account::OwnAccountError;
        match error {
            OwnAccountError::NoPasswordLeft => Self::Conflict(
                "Set a password first: without it, unlinking would leave you no way to sign in."
                    .into(),
            ),
            OwnAccountError::LinkNotValid => Self::Gone {
                title: "Reset link not valid".into(),
                message: "This link was already used, has expired, or is not complete. Ask for a new one from the sign-in page.".into(),
            },
            OwnAccountError::Hash(error) => error.into(),
            OwnAccountError::Store(error) => error.into(),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(error: askama::Error) -> Self {
        Self::internal(error)
    }
}
