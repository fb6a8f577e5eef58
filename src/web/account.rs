//! Signing in and out.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::error::{WebError, describe_wait};
use super::pages::{Layout, render, render_with_status};
use crate::auth::rate_limit::{AttemptKey, RetryAfter};
use crate::context::AppContext;
use crate::domain::LoginName;
use crate::store::people::AccountStatus;
use crate::usecases::own_account;
use crate::web::csrf;
use crate::web::identity;

/// Shown for every failed sign-in, whether or not the account exists.
pub const SIGN_IN_FAILED: &str = "The email address, username or password is not right.";

#[derive(Template)]
#[template(path = "auth/sign_in.html")]
struct SignInPage<'a> {
    layout: Layout,
    login: &'a str,
    next: &'a str,
    error: Option<String>,
    notice: Option<&'a str>,
    /// The single-sign-on provider's name, when one is configured.
    sso_name: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    signed_out: Option<String>,
    next: Option<String>,
}

/// Where to go after signing in: only a path on this site, never another origin.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

pub async fn sign_in_form(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    session: Session,
    query: web::Query<SignInQuery>,
) -> Result<HttpResponse, WebError> {
    if identity::signed_in_person_id(&session).is_some() {
        return Ok(see_other("/"));
    }
    render(&SignInPage {
        layout: Layout {
            user_name: None,
            csrf_token: csrf::form_token(&req, &session)?,
            ..Layout::default()
        },
        login: "",
        next: safe_next(query.next.as_deref()),
        error: None,
        notice: query.signed_out.is_some().then_some("You have signed out."),
        sso_name: ctx.sso.as_ref().map(|sso| sso.display_name()),
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    login: String,
    password: String,
    next: Option<String>,
}

pub async fn sign_in(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    session: Session,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, WebError> {
    let failed = |status: StatusCode, message: String| -> Result<HttpResponse, WebError> {
        render_with_status(
            status,
            &SignInPage {
                layout: Layout {
                    user_name: None,
                    csrf_token: csrf::form_token(&req, &session)?,
                    ..Layout::default()
                },
                login: &form.login,
                next: safe_next(form.next.as_deref()),
                error: Some(message),
                notice: None,
                sso_name: ctx.sso.as_ref().map(|sso| sso.display_name()),
            },
        )
    };
    let login = match LoginName::parse(&form.login) {
        Ok(login) => login,
        Err(error) => {
            ctx.metrics.sign_in("invalid");
            return failed(StatusCode::BAD_REQUEST, error.message);
        }
    };
    let ip = super::client_ip(&req, ctx.settings.server.trust_forwarded_for);
    let ip_text = ip.map(|ip| ip.to_string());
    // One budget per account, whether its email or its username was typed.
    let person = ctx.store.person_by_login(&login).await?;
    let key = match &person {
        Some(person) => AttemptKey::Account(person.id.clone()),
        None => AttemptKey::UnknownLogin(login.as_str().to_string()),
    };
    if let Some(Err(RetryAfter(wait))) = ip.map(|ip| ctx.sign_in_limiter.check(ip, &key)) {
        tracing::info!(ip = ?ip, "sign-in rate limit reached");
        ctx.metrics.sign_in("rate_limited");
        let seconds = wait.as_secs().max(1);
        let mut response = failed(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many sign-in attempts. Wait {} and try again.",
                describe_wait(seconds)
            ),
        )?;
        response
            .headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, seconds.into());
        return Ok(response);
    }
    let password_ok = ctx
        .hasher
        .verify(
            &form.password,
            person.as_ref().and_then(|p| p.password_hash.as_deref()),
        )
        .await
        .map_err(|error| {
            let busy = matches!(error, crate::auth::password::PasswordError::Busy);
            ctx.metrics.sign_in(if busy { "busy" } else { "error" });
            WebError::from(error)
        })?;
    let Some(person) = person.filter(|_| password_ok) else {
        tracing::info!("sign-in failed");
        ctx.metrics.sign_in("bad_credentials");
        return failed(StatusCode::UNAUTHORIZED, SIGN_IN_FAILED.into());
    };
    if person.status != AccountStatus::Active {
        ctx.metrics.sign_in("locked");
        return failed(
            StatusCode::FORBIDDEN,
            "This account is locked. Contact the helpdesk to unlock it.".into(),
        );
    }
    identity::sign_in(&session, &person.id)?;
    let how = "signed in with password".to_string();
    own_account::record_sign_in(&ctx, &person.id, ip_text.as_deref(), how).await?;
    ctx.metrics.sign_in("ok");
    tracing::info!(person = %person.id, "signed in");
    Ok(see_other(safe_next(form.next.as_deref())))
}

pub async fn sign_out(session: Session) -> HttpResponse {
    // Deletes the server-side row, so the old cookie is worthless even if kept.
    session.purge();
    see_other("/sign-in?signed_out=1")
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}
