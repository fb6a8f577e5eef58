//! The newcomer's account set-up after the password: username and shell, a review, then
//! the POSIX account and its directory entry.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::account::see_other;
use super::error::WebError;
use super::pages::{FormErrors, Layout, render, render_with_status};
use crate::context::AppContext;
use crate::domain::{FieldError, PosixUsername};
use crate::usecases::accounts::{AccountError, complete_account, username_available};
use crate::web::identity::SignedIn;

#[derive(Template)]
#[template(path = "account/setup.html")]
struct SetupPage<'a> {
    layout: Layout,
    username: String,
    login_shell: String,
    shells: &'a [String],
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "account/review.html")]
struct ReviewPage {
    layout: Layout,
    username: String,
    home_directory: String,
    login_shell: String,
    email: String,
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    login_shell: String,
}

fn setup_page<'a>(
    ctx: &'a AppContext,
    user: &SignedIn,
    username: String,
    login_shell: String,
    errors: FormErrors,
) -> Result<SetupPage<'a>, WebError> {
    Ok(SetupPage {
        layout: Layout::for_user(user)?,
        username,
        login_shell,
        shells: &ctx.settings.ldap.login_shells,
        errors,
    })
}

/// A suggestion from the person's names that is still free, trying a few digits.
async fn suggestion(ctx: &AppContext, user: &SignedIn) -> Result<String, WebError> {
    let Some(base) =
        PosixUsername::suggest(user.person.given_name.as_deref(), &user.person.surname)
    else {
        return Ok(String::new());
    };
    for attempt in 0..10 {
        let candidate = if attempt == 0 {
            base.to_string()
        } else {
            format!("{base}{}", attempt + 1)
        };
        let Ok(candidate) = PosixUsername::parse(&candidate) else {
            break;
        };
        // Without LDAP there is no suggestion; the person can still type one.
        if username_available(ctx, &candidate).await.unwrap_or(false) {
            return Ok(candidate.to_string());
        }
    }
    Ok(String::new())
}

pub async fn show(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<SetupForm>,
) -> Result<HttpResponse, WebError> {
    if !user.person.needs_account() {
        return Ok(see_other("/"));
    }
    let username = if query.username.is_empty() {
        suggestion(&ctx, &user).await?
    } else {
        query.username.clone()
    };
    // "Change these" on the review step comes back with the chosen shell: keep it if offered.
    let shells = &ctx.settings.ldap.login_shells;
    let shell = if shells.contains(&query.login_shell) {
        query.login_shell.clone()
    } else {
        shells.first().cloned().unwrap_or_default()
    };
    render(&setup_page(
        &ctx,
        &user,
        username,
        shell,
        FormErrors::default(),
    )?)
}

/// Parses and checks the choice; `Err` carries the page to show again.
async fn check(
    ctx: &AppContext,
    user: &SignedIn,
    form: &SetupForm,
) -> Result<(PosixUsername, String), HttpResponse> {
    let mut errors = FormErrors::default();
    let username = errors.check(PosixUsername::parse(&form.username));
    let shell_ok = ctx
        .settings
        .ldap
        .login_shells
        .iter()
        .any(|shell| shell == &form.login_shell);
    if !shell_ok {
        errors.add(FieldError::new(
            "login_shell",
            "Choose one of the shells offered.",
        ));
    }
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if let Some(username) = &username {
        match username_available(ctx, username).await {
            Ok(true) => {}
            Ok(false) => {
                status = StatusCode::CONFLICT;
                errors.add(FieldError::new(
                    "username",
                    "This username is already taken. Choose another.",
                ));
            }
            Err(error) => {
                tracing::warn!(%error, "username check failed");
                status = StatusCode::SERVICE_UNAVAILABLE;
                errors.add(FieldError::new(
                    "username",
                    "The directory cannot be asked whether this username is free right now. Try again in a moment.",
                ));
            }
        }
    }
    match username {
        Some(username) if errors.is_empty() => Ok((username, form.login_shell.clone())),
        _ => {
            let page = setup_page(
                ctx,
                user,
                form.username.clone(),
                form.login_shell.clone(),
                errors,
            )
            .and_then(|page| render_with_status(status, &page));
            Err(page.unwrap_or_else(|error| actix_web::ResponseError::error_response(&error)))
        }
    }
}

pub async fn review(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, WebError> {
    if !user.person.needs_account() {
        return Ok(see_other("/"));
    }
    let (username, login_shell) = match check(&ctx, &user, &form).await {
        Ok(choice) => choice,
        Err(page) => return Ok(page),
    };
    render(&ReviewPage {
        layout: Layout::for_user(&user)?,
        home_directory: ctx.settings.ldap.home_directory_of(username.as_str()),
        username: username.to_string(),
        login_shell,
        email: user.person.email.clone(),
    })
}

pub async fn confirm(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, WebError> {
    if !user.person.needs_account() {
        return Ok(see_other("/"));
    }
    let (username, login_shell) = match check(&ctx, &user, &form).await {
        Ok(choice) => choice,
        Err(page) => return Ok(page),
    };
    let ip = super::audit_ip(&req, &ctx);
    match complete_account(&ctx, &user.person, &username, &login_shell, ip.as_deref()).await {
        Ok(true) => Ok(see_other("/?welcome=account")),
        Ok(false) => Ok(see_other("/?welcome=pending")),
        Err(AccountError::UsernameTaken) => {
            let mut errors = FormErrors::default();
            errors.add(FieldError::new(
                "username",
                "This username was taken a moment ago. Choose another.",
            ));
            render_with_status(
                StatusCode::CONFLICT,
                &setup_page(&ctx, &user, form.username.clone(), login_shell, errors)?,
            )
        }
        Err(AccountError::AlreadyComplete) => Ok(see_other("/")),
        Err(AccountError::RangeExhausted(what)) => Err(WebError::Conflict(format!(
            "No {what} is left for new accounts. The site administrators have been told; try again later."
        ))),
        Err(AccountError::Directory(error)) => Err(WebError::Unavailable(format!(
            "The directory is not answering, so your account could not be created yet. Nothing is lost: try again in a moment. ({error})"
        ))),
        Err(AccountError::Store(error)) => Err(error.into()),
    }
}
