//! The signed-in person's own account: details, organisations, name and password changes,
//! and linked sign-in identities (forgotten passwords are in `password_reset`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::account::see_other;
use super::error::WebError;
use super::pages::{FormErrors, Layout, filters, render, render_with_status};
use crate::auth::rate_limit::{AttemptKey, RetryAfter};
use crate::context::AppContext;
use crate::domain::{FieldError, NewPassword, PersonName};
use crate::store::jobs::JobKind;
use crate::usecases::own_account::{self, Me};
use crate::web::identity::{self, SignedIn};

#[derive(Template)]
#[template(path = "account/profile.html")]
struct ProfilePage {
    layout: Layout,
    notice: Option<&'static str>,
    name: String,
    surname: String,
    given_name: String,
    email: String,
    username: Option<String>,
    uid_number: Option<i64>,
    gid_number: Option<i64>,
    ldap_pending: bool,
    key_count: usize,
    organisations: Vec<(String, &'static str)>,
    /// The resources the person may use: (name, group, organisation).
    resources: Vec<(String, String, String)>,
    /// Without a password (signed up with single sign-on) no current one is asked for.
    has_password: bool,
    identities: Vec<IdentityRow>,
    /// The provider's name when single sign-on is configured.
    sso_name: Option<String>,
    errors: FormErrors,
    /// Which form the errors belong to ("name" or "password"): its panel shows the summary.
    failed_form: &'static str,
}

/// A linked single-sign-on identity on the account page.
struct IdentityRow {
    issuer: String,
    subject: String,
    email: String,
    linked_at: i64,
}

async fn profile_page(
    ctx: &AppContext,
    user: &SignedIn,
    notice: Option<&'static str>,
    errors: FormErrors,
    failed_form: &'static str,
) -> Result<ProfilePage, WebError> {
    let person = &user.person;
    let mut organisations = Vec::new();
    for organisation in ctx.store.organisations_of(&person.id).await? {
        let role = ctx
            .store
            .membership_role(&organisation.id, &person.id)
            .await?;
        organisations.push((
            organisation.name,
            role.map(|role| role.label()).unwrap_or("Member"),
        ));
    }
    Ok(ProfilePage {
        layout: Layout::for_user(user)?,
        notice,
        name: person.display_name(),
        surname: person.surname.clone(),
        given_name: person.given_name.clone().unwrap_or_default(),
        email: person.email.clone(),
        username: person.username.clone(),
        uid_number: person.uid_number,
        gid_number: person.gid_number,
        ldap_pending: ctx
            .store
            .has_pending_job(JobKind::SyncAccount, &person.id)
            .await?,
        key_count: ctx.store.keys_of(&person.id).await?.len(),
        organisations,
        resources: ctx
            .store
            .resources_usable_by(&person.id, &ctx.clock.today_iso())
            .await?
            .into_iter()
            .map(|(resource, organisation)| (resource.name, resource.group_name, organisation))
            .collect(),
        has_password: person.password_hash.is_some(),
        identities: ctx
            .store
            .identities_of(&person.id)
            .await?
            .into_iter()
            .map(|link| IdentityRow {
                linked_at: link.linked_at,
                email: link.email_at_link.unwrap_or_default(),
                issuer: link.issuer,
                subject: link.subject,
            })
            .collect(),
        sso_name: ctx.sso.as_ref().map(|sso| sso.display_name().to_string()),
        errors,
        failed_form,
    })
}

#[derive(Deserialize)]
pub struct ProfileQuery {
    done: Option<String>,
}

pub async fn show(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<ProfileQuery>,
) -> Result<HttpResponse, WebError> {
    let notice = match query.done.as_deref() {
        Some("name") => Some("Your name was saved."),
        Some("password") => Some("Your password was changed. Every other session was signed out."),
        Some("unlinked") => Some("The identity was unlinked: it no longer signs you in."),
        _ => None,
    };
    render(&profile_page(&ctx, &user, notice, FormErrors::default(), "").await?)
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
}

pub async fn rename(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<NameForm>,
) -> Result<HttpResponse, WebError> {
    let mut errors = FormErrors::default();
    let surname = errors.check(PersonName::parse("surname", &form.surname));
    let given_name = errors.check(PersonName::parse_optional("given_name", &form.given_name));
    let (Some(surname), Some(given_name)) = (surname, given_name) else {
        return render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &profile_page(&ctx, &user, None, errors, "name").await?,
        );
    };
    let ip = super::audit_ip(&req, &ctx);
    let me = Me {
        person: &user.person,
        client_ip: ip.as_deref(),
    };
    own_account::rename(&ctx, me, &surname, given_name.as_ref()).await?;
    Ok(see_other("/account?done=name"))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirmation: String,
}

pub(super) fn password_context(person: &crate::store::people::Person) -> Vec<String> {
    crate::domain::personal_words(
        &person.surname,
        person.given_name.as_deref(),
        &person.email,
        person.username.as_deref(),
    )
}

pub async fn change_password(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let ip = super::client_ip(&req, ctx.settings.server.trust_forwarded_for);
    // Guessing the current password here is as rate-limited as signing in.
    let key = AttemptKey::Account(user.person.id.clone());
    if let Some(Err(RetryAfter(wait))) = ip.map(|ip| ctx.sign_in_limiter.check(ip, &key)) {
        return Err(WebError::TooManyRequests {
            retry_after_seconds: wait.as_secs().max(1),
        });
    }
    let mut errors = FormErrors::default();
    // Someone who signed up with single sign-on has no password yet to confirm.
    let current_ok = match user.person.password_hash.as_deref() {
        None => true,
        Some(stored) => ctx
            .hasher
            .verify(&form.current_password, Some(stored))
            .await
            .map_err(WebError::from)?,
    };
    if !current_ok {
        errors.add(FieldError::new(
            "current_password",
            "This is not your current password.",
        ));
    }
    let context = password_context(&user.person);
    let context: Vec<&str> = context.iter().map(String::as_str).collect();
    let password = errors.check(NewPassword::parse(
        &form.password,
        &form.password_confirmation,
        &context,
    ));
    let Some(password) = password.filter(|_| errors.is_empty()) else {
        return render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &profile_page(&ctx, &user, None, errors, "password").await?,
        );
    };
    let ip_text = ip.map(|ip| ip.to_string());
    let me = Me {
        person: &user.person,
        client_ip: ip_text.as_deref(),
    };
    own_account::change_password(&ctx, me, &password).await?;
    // Every session ended with the change; this browser gets a fresh one.
    identity::sign_in(&user.session, &user.person.id)?;
    Ok(see_other("/account?done=password"))
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    subject: String,
}

/// `GET /account/identities/unlink?issuer=…&subject=…`: what unlinking will do, asked first.
pub async fn confirm_unlink_identity(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<UnlinkForm>,
) -> Result<HttpResponse, WebError> {
    own_account::check_unlink_identity(&user.person)?;
    let identity = ctx
        .store
        .identities_of(&user.person.id)
        .await?
        .into_iter()
        .find(|link| link.issuer == query.issuer && link.subject == query.subject)
        .ok_or(WebError::NotFound)?;
    let provider = ctx.sso.as_ref().map_or(identity.issuer.clone(), |sso| {
        sso.display_name().to_string()
    });
    crate::web::confirm::Confirmation {
        layout: Layout::for_user(&user)?,
        question: format!("Unlink the identity {} at {provider}?", identity.subject),
        consequences: vec![format!(
            "Signing in with {provider} no longer reaches this account; you sign in with your email and password. Signing in with it again links it again."
        )],
        action: "/account/identities/unlink".into(),
        hidden: vec![("issuer", identity.issuer), ("subject", identity.subject)],
        button: "Yes, unlink it",
        cancel: "/account".into(),
    }
    .render()
}

/// Unlinks a single-sign-on identity; only with a password left to sign in with.
pub async fn unlink_identity(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<UnlinkForm>,
) -> Result<HttpResponse, WebError> {
    let ip = super::audit_ip(&req, &ctx);
    let me = Me {
        person: &user.person,
        client_ip: ip.as_deref(),
    };
    if !own_account::unlink_identity(&ctx, me, &form.issuer, &form.subject).await? {
        return Err(WebError::NotFound);
    }
    Ok(see_other("/account?done=unlinked"))
}
