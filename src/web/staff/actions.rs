//! What staff do to an account, each behind its permission and the staff boundary: contact change, reset link, lock and unlock, key removal, resync.

use super::account::{TypedContact, account_page};
use super::*;

#[derive(Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    email: String,
}

/// Helpdesk changes a person's name and email; both addresses are told.
pub async fn change_contact(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<ContactForm>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::EditAccounts, &path).await?;
    let ip = crate::web::audit_ip(&req, &ctx);
    staff_actions::permit(
        &ctx,
        actor(&user, ip.as_deref()),
        &person,
        AccountAction::ChangeContact,
    )
    .await?;
    if person.status == AccountStatus::Deleted {
        return Err(deleted_account());
    }
    let mut errors = FormErrors::default();
    let surname = errors.check(PersonName::parse("surname", &form.surname));
    let given_name = errors.check(PersonName::parse_optional("given_name", &form.given_name));
    let email = errors.check(Email::parse(&form.email));
    if let Some(email) = &email
        && email.normalized() != person.email.to_lowercase()
        && ctx
            .store
            .person_by_email(email)
            .await?
            .is_some_and(|other| other.id != person.id)
    {
        errors.add(FieldError::new(
            "email",
            "Another account already uses this email address.",
        ));
    }
    let (Some(surname), Some(given_name), Some(email), true) =
        (surname, given_name, email, errors.is_empty())
    else {
        let typed = TypedContact {
            surname: form.surname.clone(),
            given_name: form.given_name.clone(),
            email: form.email.clone(),
        };
        let page = account_page(&ctx, &user, person, None, errors, Some(typed)).await?;
        return render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let old_email = person.email.clone();
    let email_changed = email.as_str() != old_email;
    let new_name = match &given_name {
        Some(given) => format!("{given} {surname}"),
        None => surname.to_string(),
    };
    let mut details = format!("name {} → {new_name}", person.display_name());
    if email_changed {
        details.push_str(&format!("; email {old_email} → {}", email.as_str()));
    }
    ctx.store
        .change_contact(
            &person.id,
            &surname,
            given_name.as_ref(),
            &email,
            staff_event(&user, ip.as_deref(), "account.contact_changed", details),
            now(),
        )
        .await?;
    crate::jobs::apply_now(&ctx, JobKind::SyncAccount, &person.id).await;
    let mut done = "contact";
    if email_changed {
        let notice = NoticeMail::email_changed(&new_name, &old_email, email.as_str());
        for address in [old_email.as_str(), email.as_str()] {
            let sent = match notice.render() {
                Ok(mail) => ctx.mailer.send(address, mail).await,
                Err(error) => Err(error),
            };
            if let Err(error) = sent {
                tracing::warn!(%error, "email-change notice not sent");
                done = "contact-mail-failed";
            }
        }
    }
    Ok(back_to_account(&person, done))
}

/// Emails the person a reset link; staff never see it.
pub async fn send_reset(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::SendPasswordReset, &path).await?;
    let ip = crate::web::audit_ip(&req, &ctx);
    staff_actions::permit(
        &ctx,
        actor(&user, ip.as_deref()),
        &person,
        AccountAction::SendPasswordReset,
    )
    .await?;
    match person.status {
        AccountStatus::Deleted => return Err(deleted_account()),
        AccountStatus::Locked => return Err(locked_account()),
        AccountStatus::Active => {}
    }
    crate::usecases::accounts::send_password_reset(&ctx, &person, true)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "password-reset link not sent");
            WebError::Unavailable(
                "The reset link could not be emailed (the mail server did not take it). Try again in a few minutes.".into(),
            )
        })?;
    ctx.store
        .record_audit(
            &AuditEvent {
                subject_id: Some(&person.id),
                ..staff_event(
                    &user,
                    ip.as_deref(),
                    "account.reset_link_sent",
                    format!("password-reset link emailed to {}", person.email),
                )
            },
            now(),
        )
        .await?;
    Ok(back_to_account(&person, "reset"))
}

#[derive(Deserialize)]
pub struct LockForm {
    #[serde(default)]
    reason: String,
}

pub async fn lock(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<LockForm>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::LockAccounts, &path).await?;
    let reason = form.reason.trim();
    if reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(WebError::BadRequest(
            "Give the reason in at most 200 characters, on one line.".into(),
        ));
    }
    let ip = crate::web::audit_ip(&req, &ctx);
    staff_actions::lock(&ctx, actor(&user, ip.as_deref()), &person, reason).await?;
    Ok(back_to_account(&person, "locked"))
}

pub async fn unlock(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::LockAccounts, &path).await?;
    let ip = crate::web::audit_ip(&req, &ctx);
    staff_actions::unlock(&ctx, actor(&user, ip.as_deref()), &person).await?;
    Ok(back_to_account(&person, "unlocked"))
}

pub async fn remove_key(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (person_id, key_id) = path.into_inner();
    let person = staff_and_account(&ctx, &user, Permission::RemoveKeys, &person_id).await?;
    let ip = crate::web::audit_ip(&req, &ctx);
    staff_actions::permit(
        &ctx,
        actor(&user, ip.as_deref()),
        &person,
        AccountAction::RemoveKey,
    )
    .await?;
    let key = ctx
        .store
        .keys_of(&person.id)
        .await?
        .into_iter()
        .find(|key| key.id == key_id)
        .ok_or(WebError::NotFound)?;
    let removed = ctx
        .store
        .remove_key(
            &person.id,
            &key.id,
            staff_event(
                &user,
                ip.as_deref(),
                "account.key_removed",
                format!("removed SSH key {} ({})", key.fingerprint, key.comment),
            ),
            now(),
        )
        .await?;
    if !removed {
        return Err(WebError::NotFound);
    }
    crate::jobs::apply_now(&ctx, JobKind::SyncAccount, &person.id).await;
    notices::credentials_changed(
        &ctx,
        &person,
        CredentialChange::KeyRemoved {
            fingerprint: &key.fingerprint,
            by_staff: true,
        },
        ip.as_deref(),
    )
    .await;
    Ok(back_to_account(&person, "key-removed"))
}

/// Rewrites the entry and the person's groups from the portal's state; running it again
/// changes nothing.
pub async fn resync(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::ResyncAccounts, &path).await?;
    if person.status == AccountStatus::Deleted {
        return Err(deleted_account());
    }
    let ip = crate::web::audit_ip(&req, &ctx);
    let organisations = ctx
        .store
        .queue_resync(
            &person.id,
            staff_event(
                &user,
                ip.as_deref(),
                "account.resynced",
                "LDAP entry and groups rewritten from the portal".into(),
            ),
            now(),
        )
        .await?;
    crate::jobs::apply_now(&ctx, JobKind::SyncAccount, &person.id).await;
    for organisation_id in &organisations {
        crate::jobs::apply_now(&ctx, JobKind::SyncGroup, organisation_id).await;
    }
    Ok(back_to_account(&person, "resynced"))
}
