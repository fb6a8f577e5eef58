//! A person's SSH keys: list with fingerprints, add by pasting, remove.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::account::see_other;
use super::confirm::{Confirmation, key_label};
use super::error::WebError;
use super::pages::{FormErrors, Layout, filters, render, render_with_status};
use crate::context::AppContext;
use crate::domain::{FieldError, SshPublicKey};
use crate::store::jobs::JobKind;
use crate::store::ssh_keys::{AddKeyError, MAX_KEYS};
use crate::usecases::own_account::{self, Me};
use crate::web::identity::SignedIn;

struct KeyRow {
    id: String,
    algorithm: String,
    bits: Option<i64>,
    fingerprint: String,
    comment: String,
    added_at: i64,
}

#[derive(Template)]
#[template(path = "account/keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    notice: Option<String>,
    pending: bool,
    errors: FormErrors,
    pasted: String,
    max_keys: i64,
}

/// Keys belong to a POSIX account the portal manages; send others where they belong.
fn require_account(user: &SignedIn) -> Result<(), WebError> {
    if user.person.needs_account() {
        return Err(WebError::SetupRequired);
    }
    if user.person.uid_number.is_none() {
        return Err(WebError::Conflict(
            "Your directory entry is managed outside Roster, so your SSH keys are too. Ask the helpdesk.".into(),
        ));
    }
    Ok(())
}

async fn page(
    ctx: &AppContext,
    user: &SignedIn,
    notice: Option<String>,
    errors: FormErrors,
    pasted: String,
) -> Result<KeysPage, WebError> {
    let keys = ctx
        .store
        .keys_of(&user.person.id)
        .await?
        .into_iter()
        .map(|key| KeyRow {
            added_at: key.created_at,
            id: key.id,
            algorithm: key.algorithm,
            bits: key.bits,
            fingerprint: key.fingerprint,
            comment: key.comment,
        })
        .collect();
    Ok(KeysPage {
        layout: Layout::for_user(user)?,
        keys,
        notice,
        pending: ctx
            .store
            .has_pending_job(JobKind::SyncAccount, &user.person.id)
            .await?,
        errors,
        pasted,
        max_keys: MAX_KEYS,
    })
}

#[derive(Deserialize)]
pub struct KeysQuery {
    done: Option<String>,
}

pub async fn list(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<KeysQuery>,
) -> Result<HttpResponse, WebError> {
    require_account(&user)?;
    let generic = match query.done.as_deref() {
        Some("added") => Some("The key was added."),
        Some("removed") => Some("The key was removed."),
        _ => None,
    };
    let notice = super::notice::take(&user.session, query.done.as_deref(), generic);
    render(&page(&ctx, &user, notice, FormErrors::default(), String::new()).await?)
}

/// Which form a key came from: its errors show beside that form's field.
#[derive(Clone, Copy)]
enum Source {
    Pasted,
    Uploaded,
}

impl Source {
    const fn field(self) -> &'static str {
        match self {
            Self::Pasted => "key",
            Self::Uploaded => "file",
        }
    }
}

/// The keys page again, with the error beside the field of the form it came from.
async fn refused(
    ctx: &AppContext,
    user: &SignedIn,
    status: StatusCode,
    source: Source,
    message: impl Into<String>,
    pasted: String,
) -> Result<HttpResponse, WebError> {
    let mut errors = FormErrors::default();
    errors.add(FieldError::new(source.field(), message));
    render_with_status(status, &page(ctx, user, None, errors, pasted).await?)
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    key: String,
}

pub async fn add(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, WebError> {
    require_account(&user)?;
    add_key_text(&req, &ctx, &user, &form.key, Source::Pasted).await
}

/// `POST /account/keys/upload`: the key from a .pub file (multipart form; the CSRF
/// middleware has checked its token field).
pub async fn upload(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    mut payload: actix_multipart::Multipart,
) -> Result<HttpResponse, WebError> {
    use futures_util::StreamExt;
    require_account(&user)?;
    let refuse = |status, message: &'static str| {
        refused(
            &ctx,
            &user,
            status,
            Source::Uploaded,
            message,
            String::new(),
        )
    };
    let mut text = None;
    while let Some(field) = payload.next().await {
        let mut field =
            field.map_err(|_| WebError::BadRequest("The upload could not be read.".into()))?;
        if field.name() != Some("file") {
            continue;
        }
        let bytes = match field.bytes(UPLOAD_LIMIT).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) => return Err(WebError::BadRequest("The upload could not be read.".into())),
            Err(_) => {
                return refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "That file is far too large for a public key. Choose your .pub file.",
                )
                .await;
            }
        };
        let Ok(decoded) = String::from_utf8(bytes.to_vec()) else {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "That file is not a text public key. Choose your .pub file.",
            )
            .await;
        };
        text = Some(decoded);
        break;
    }
    // Browsers send an empty file part when none was chosen.
    let Some(text) = text.filter(|text| !text.trim().is_empty()) else {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose your .pub file to upload.",
        )
        .await;
    };
    add_key_text(&req, &ctx, &user, &text, Source::Uploaded).await
}

/// Largest upload read; a public key is a few kB at most.
const UPLOAD_LIMIT: usize = 64 * 1024;

async fn add_key_text(
    req: &HttpRequest,
    ctx: &AppContext,
    user: &SignedIn,
    text: &str,
    source: Source,
) -> Result<HttpResponse, WebError> {
    // Only a bounded prefix of a paste is shown again, so a huge one does not come back
    // whole; a private key never is, nor is a file's content.
    let pasted: String = match source {
        Source::Pasted if !SshPublicKey::looks_private(text) => text.chars().take(4096).collect(),
        _ => String::new(),
    };
    let key = match SshPublicKey::parse(text) {
        Ok(key) => key,
        Err(error) => {
            return refused(
                ctx,
                user,
                StatusCode::UNPROCESSABLE_ENTITY,
                source,
                error.message,
                pasted,
            )
            .await;
        }
    };
    let ip = super::audit_ip(req, ctx);
    let me = Me {
        person: &user.person,
        client_ip: ip.as_deref(),
    };
    match own_account::add_key(ctx, me, &key).await {
        Ok(()) => {
            let label = if key.comment.is_empty() {
                key.fingerprint.clone()
            } else {
                format!("{} ({})", key.fingerprint, key.comment)
            };
            super::notice::keep(
                &user.session,
                "added",
                format!("The key {label} was added. You can log in with it once the directory is updated."),
            );
            Ok(see_other("/account/keys?done=added"))
        }
        Err(AddKeyError::Duplicate) => {
            refused(
                ctx,
                user,
                StatusCode::CONFLICT,
                source,
                "This key is already registered (on this or another account). Each key may be used by one account only.",
                pasted,
            )
            .await
        }
        Err(AddKeyError::TooMany) => {
            refused(
                ctx,
                user,
                StatusCode::CONFLICT,
                source,
                format!("You already have {MAX_KEYS} keys. Remove one you no longer use first."),
                pasted,
            )
            .await
        }
        Err(AddKeyError::Store(error)) => Err(error.into()),
    }
}

/// One of the signed-in person's own keys; anyone else's is not found.
async fn own_key(
    ctx: &AppContext,
    user: &SignedIn,
    key_id: &str,
) -> Result<crate::store::ssh_keys::StoredKey, WebError> {
    require_account(user)?;
    ctx.store
        .keys_of(&user.person.id)
        .await?
        .into_iter()
        .find(|key| key.id == key_id)
        .ok_or(WebError::NotFound)
}

/// `GET /account/keys/{key}/remove`: asks before the key goes; the form posts back here.
pub async fn confirm_remove(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let key = own_key(&ctx, &user, &path).await?;
    Confirmation {
        layout: Layout::for_user(&user)?,
        question: format!("Remove the SSH key {} from your account?", key_label(&key)),
        consequences: vec![
            "You will no longer be able to log in with it. It is removed from the directory."
                .into(),
        ],
        action: format!("/account/keys/{}/remove", key.id),
        hidden: Vec::new(),
        button: "Yes, remove the key",
        cancel: "/account/keys".into(),
    }
    .render()
}

pub async fn remove(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let key = own_key(&ctx, &user, &path).await?;
    let ip = super::audit_ip(&req, &ctx);
    let me = Me {
        person: &user.person,
        client_ip: ip.as_deref(),
    };
    if !own_account::remove_key(&ctx, me, &key.id).await? {
        return Err(WebError::NotFound);
    }
    super::notice::keep(
        &user.session,
        "removed",
        format!(
            "The key {} was removed. You can no longer log in with it.",
            key_label(&key)
        ),
    );
    Ok(see_other("/account/keys?done=removed"))
}
