//! Signing in and out, and the signed-in person's start page.

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
use crate::domain::Permission;
use crate::store::jobs::JobKind;
use crate::store::people::AccountStatus;
use crate::usecases::own_account;
use crate::web::csrf;
use crate::web::identity::{self, SignedIn};

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

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    layout: Layout,
    name: String,
    email: &'a str,
    username: Option<&'a str>,
    roles: Vec<&'static str>,
    notice: Option<&'a str>,
    uid_number: Option<i64>,
    gid_number: Option<i64>,
    ldap_pending: bool,
    /// Consoles the person may open, as (address, label).
    staff_links: Vec<(&'static str, &'static str)>,
}

#[derive(Deserialize)]
pub struct HomeQuery {
    welcome: Option<String>,
}

pub async fn home(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<HomeQuery>,
) -> Result<HttpResponse, WebError> {
    // Members need their POSIX account: keep bringing them back until it is set up.
    if user.person.needs_account()
        && !ctx
            .store
            .organisation_ids_of(&user.person.id)
            .await?
            .is_empty()
    {
        return Ok(see_other("/account/setup"));
    }
    let ldap_pending = ctx
        .store
        .has_pending_job(JobKind::SyncAccount, &user.person.id)
        .await?;
    let roles = ctx
        .store
        .person_roles(&user.person.id)
        .await?
        .iter()
        .filter_map(|role| crate::domain::Role::parse(role))
        .map(|role| role.label())
        .collect();
    let may = crate::web::guard::site_wide(&ctx, &user).await?;
    let staff_links = [
        (Permission::ViewAccounts, "/admin/accounts", "Accounts"),
        (Permission::ManageStaff, "/admin/staff", "Staff roles"),
        (
            Permission::ManageJobs,
            "/admin/jobs",
            "Outbox (directory and mail)",
        ),
        (Permission::ManageClients, "/admin/clients", "API clients"),
    ]
    .into_iter()
    .filter(|(permission, _, _)| may.allows(*permission))
    .map(|(_, href, label)| (href, label))
    .collect();
    render(&HomePage {
        layout: Layout {
            user_name: Some(user.person.display_name()),
            csrf_token: csrf::token(&user.session)?,
        },
        name: user.person.display_name(),
        email: &user.person.email,
        username: user.person.username.as_deref(),
        roles,
        notice: match query.welcome.as_deref() {
            None => None,
            Some("account") => {
                Some("Your account is ready: you can now log in with your username and password.")
            }
            Some("pending") => Some(
                "Your account is set up. The directory is busy: it will be created there automatically shortly.",
            ),
            Some(_) => Some("Your account is active. Welcome to Roster."),
        },
        uid_number: user.person.uid_number,
        gid_number: user.person.gid_number,
        ldap_pending,
        staff_links,
    })
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
        Err(error) => return failed(StatusCode::BAD_REQUEST, error.message),
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
        .map_err(WebError::from)?;
    let Some(person) = person.filter(|_| password_ok) else {
        tracing::info!("sign-in failed");
        return failed(StatusCode::UNAUTHORIZED, SIGN_IN_FAILED.into());
    };
    if person.status != AccountStatus::Active {
        return failed(
            StatusCode::FORBIDDEN,
            "This account is locked. Contact the helpdesk to unlock it.".into(),
        );
    }
    identity::sign_in(&session, &person.id)?;
    let how = "signed in with password".to_string();
    own_account::record_sign_in(&ctx, &person.id, ip_text.as_deref(), how).await?;
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
