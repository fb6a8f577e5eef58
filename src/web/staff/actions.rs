//! What staff do to an account, each behind its permission and the staff boundary: contact change, reset link, lock and unlock, key removal, resync.

use super::account::{TypedContact, account_page};
use super::*;
use crate::domain::LockReason;
use crate::web::confirm::{Confirmation, key_label};

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
    let actor = actor(&user, ip.as_deref());
    staff_actions::permit(&ctx, actor, &person, AccountAction::ChangeContact).await?;
    let mut errors = FormErrors::default();
    let surname = errors.check(PersonName::parse("surname", &form.surname));
    let given_name = errors.check(PersonName::parse_optional("given_name", &form.given_name));
    let email = errors.check(Email::parse(&form.email));
    let changed = match (surname, given_name, email, errors.is_empty()) {
        (Some(surname), Some(given_name), Some(email), true) => {
            let changed = staff_actions::change_contact(
                &ctx,
                actor,
                &person,
                &surname,
                given_name.as_ref(),
                &email,
            )
            .await;
            match changed {
                Err(StaffActionError::Staff(AccountChangeError::EmailTaken)) => {
                    errors.add(FieldError::new(
                        "email",
                        "Another account already uses this email address.",
                    ));
                    None
                }
                other => Some(other?),
            }
        }
        _ => None,
    };
    let Some(changed) = changed else {
        let typed = TypedContact {
            surname: form.surname.clone(),
            given_name: form.given_name.clone(),
            email: form.email.clone(),
        };
        let page = account_page(&ctx, &user, person, None, errors, Some(typed)).await?;
        return render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let done = if changed.notice_failed {
        "contact-mail-failed"
    } else {
        "contact"
    };
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
    staff_actions::send_reset(&ctx, actor(&user, ip.as_deref()), &person).await?;
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
    let reason =
        LockReason::parse(&form.reason).map_err(|error| WebError::BadRequest(error.message))?;
    let ip = crate::web::audit_ip(&req, &ctx);
    staff_actions::lock(&ctx, actor(&user, ip.as_deref()), &person, &reason).await?;
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

/// `GET /admin/accounts/{person}/keys/{key}/remove`: asks before removing, under the same
/// permission and staff boundary as the removal.
pub async fn confirm_remove_key(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (person_id, key_id) = path.into_inner();
    let person = staff_and_account(&ctx, &user, Permission::RemoveKeys, &person_id).await?;
    if let Some(refusal) =
        staff_actions::refusal_of(&ctx, &user.person, &person, AccountAction::RemoveKey).await?
    {
        return Err(StaffActionError::Refused(refusal).into());
    }
    let key = ctx
        .store
        .keys_of(&person.id)
        .await?
        .into_iter()
        .find(|key| key.id == key_id)
        .ok_or(WebError::NotFound)?;
    let name = person.display_name();
    Confirmation {
        layout: Layout::for_user(&user)?,
        question: format!(
            "Remove the SSH key {} from {name}’s account?",
            key_label(&key)
        ),
        consequences: vec![format!(
            "{name} will no longer be able to log in with it. It is removed from the directory, and {name} is told by email."
        )],
        action: format!("/admin/accounts/{}/keys/{}/remove", person.id, key.id),
        hidden: Vec::new(),
        button: "Yes, remove the key",
        cancel: format!("/admin/accounts/{}", person.id),
    }
    .render()
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
    let key = ctx
        .store
        .keys_of(&person.id)
        .await?
        .into_iter()
        .find(|key| key.id == key_id);
    staff_actions::remove_key(&ctx, actor(&user, ip.as_deref()), &person, &key_id).await?;
    if let Some(key) = key {
        crate::web::notice::keep(
            &user.session,
            "key-removed",
            format!(
                "The key {} was removed from {}’s account and from LDAP.",
                key_label(&key),
                person.display_name()
            ),
        );
    }
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
    let ip = crate::web::audit_ip(&req, &ctx);
    staff_actions::resync(&ctx, actor(&user, ip.as_deref()), &person).await?;
    Ok(back_to_account(&person, "resynced"))
}
