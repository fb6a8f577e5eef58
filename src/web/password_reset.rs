//! Forgotten passwords: asking for a link (the same answer whether or not the address has
//! an account, within its own budget), and choosing a new password with it.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::account::see_other;
use super::error::WebError;
use super::pages::{FormErrors, Layout, NewPasswordForm, render, render_with_status};
use super::profile::password_context;
use crate::auth::rate_limit::RetryAfter;
use crate::context::AppContext;
use crate::domain::{Email, NewPassword, SecretToken};
use crate::store::people::AccountStatus;
use crate::usecases::own_account;
use crate::web::identity;

#[derive(Template)]
#[template(path = "auth/reset_request.html")]
struct ResetRequestPage {
    layout: Layout,
    sent: bool,
    email: String,
    errors: FormErrors,
}

pub async fn reset_form(req: HttpRequest, session: Session) -> Result<HttpResponse, WebError> {
    render(&ResetRequestPage {
        layout: Layout {
            user_name: None,
            csrf_token: crate::web::csrf::form_token(&req, &session)?,
            ..Layout::default()
        },
        sent: false,
        email: String::new(),
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct ResetRequestForm {
    #[serde(default)]
    email: String,
}

/// Answers the same whether or not the address has an account, and sends the mail in the
/// background so the answer takes the same time too.
pub async fn reset_request(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    session: Session,
    form: web::Form<ResetRequestForm>,
) -> Result<HttpResponse, WebError> {
    let layout = Layout {
        user_name: None,
        csrf_token: crate::web::csrf::form_token(&req, &session)?,
        ..Layout::default()
    };
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(error) => {
            let mut errors = FormErrors::default();
            errors.add(error);
            return render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ResetRequestPage {
                    layout,
                    sent: false,
                    email: form.email.clone(),
                    errors,
                },
            );
        }
    };
    let ip = super::client_ip(&req, ctx.settings.server.trust_forwarded_for);
    if let Some(Err(RetryAfter(wait))) = ip.map(|ip| ctx.sign_in_limiter.check_reset_request(ip)) {
        return Err(WebError::TooManyRequests {
            retry_after_seconds: wait.as_secs().max(1),
        });
    }
    let ctx = ctx.into_inner();
    tokio::spawn(async move {
        if let Err(error) = send_reset_link(&ctx, &email).await {
            tracing::warn!(%error, "password reset link not sent");
        }
    });
    render(&ResetRequestPage {
        layout,
        sent: true,
        email: String::new(),
        errors: FormErrors::default(),
    })
}

async fn send_reset_link(ctx: &AppContext, email: &Email) -> anyhow::Result<()> {
    match ctx.store.person_by_email(email).await? {
        Some(person) if person.status == AccountStatus::Active => {
            let sent = crate::usecases::accounts::send_password_reset(ctx, &person, None).await?;
            if !sent {
                tracing::info!("password reset not mailed: the account's hourly budget is spent");
            }
        }
        Some(_) => tracing::info!("password reset asked for a locked account"),
        None => tracing::info!("password reset asked for an unknown address"),
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "auth/reset_choose.html")]
struct ResetChoosePage {
    layout: Layout,
    action: String,
    errors: FormErrors,
}

fn reset_link_invalid() -> WebError {
    WebError::Gone {
        title: "Reset link not valid".into(),
        message: "This link was already used, has expired, or is not complete. Ask for a new one from the sign-in page.".into(),
    }
}

async fn reset_person(
    ctx: &AppContext,
    raw: &str,
) -> Result<(SecretToken, crate::store::people::Person), WebError> {
    let token = SecretToken::parse(raw).ok_or_else(reset_link_invalid)?;
    let person_id = ctx
        .store
        .password_reset_person(&token.hash(), ctx.clock.now())
        .await?
        .ok_or_else(reset_link_invalid)?;
    let person = ctx
        .store
        .person_by_id(&person_id)
        .await?
        .ok_or_else(reset_link_invalid)?;
    Ok((token, person))
}

pub async fn reset_choose(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    reset_person(&ctx, &path).await?;
    render(&ResetChoosePage {
        layout: Layout {
            user_name: None,
            csrf_token: crate::web::csrf::form_token(&req, &session)?,
            ..Layout::default()
        },
        action: format!("/password-reset/{}", path.as_str()),
        errors: FormErrors::default(),
    })
}

pub async fn reset_set(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    session: Session,
    path: web::Path<String>,
    form: web::Form<NewPasswordForm>,
) -> Result<HttpResponse, WebError> {
    let (token, person) = reset_person(&ctx, &path).await?;
    let context = password_context(&person);
    let context: Vec<&str> = context.iter().map(String::as_str).collect();
    let password = match NewPassword::parse(&form.password, &form.password_confirmation, &context) {
        Ok(password) => password,
        Err(error) => {
            let mut errors = FormErrors::default();
            errors.add(error);
            return render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ResetChoosePage {
                    layout: Layout {
                        user_name: None,
                        csrf_token: crate::web::csrf::form_token(&req, &session)?,
                        ..Layout::default()
                    },
                    action: format!("/password-reset/{}", path.as_str()),
                    errors,
                },
            );
        }
    };
    let ip = super::audit_ip(&req, &ctx);
    let person_id =
        own_account::reset_password(&ctx, &person, &token, &password, ip.as_deref()).await?;
    identity::sign_in(&session, &person_id)?;
    Ok(see_other("/account?done=password"))
}
