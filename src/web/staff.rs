//! The helpdesk and site-admin consoles: account search, an account's page (with its live
//! LDAP entry beside what the portal expects), the actions staff take on an account, each
//! behind its own permission and audited, and the site-wide staff roles.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::account::see_other;
use super::error::WebError;
use super::pages::{FormErrors, Layout, Pager, query_value, render, render_with_status};
use crate::clock::today_iso;
use crate::context::{AppContext, now};
use crate::directory::LiveEntry;
use crate::domain::{
    AccountAction, Email, FieldError, Permission, PersonName, Refusal, Role, SearchText,
};
use crate::jobs::expected_account;
use crate::mail::NoticeMail;
use crate::store::audit::{AuditEvent, RecordedEvent};
use crate::store::jobs::JobKind;
use crate::store::people::{AccountStatus, Person};
use crate::store::ssh_keys::StoredKey;
use crate::store::staff::{AccountSearch, PersonMembership, StaffError, StaffGrant, StatusFilter};
use crate::usecases::invitations::format_date;
use crate::usecases::notices::{self, CredentialChange};
use crate::usecases::staff_actions::{self, StaffActionError, StaffActor};
use crate::web::guard::{self, Granted};
use crate::web::identity::SignedIn;

const ACCOUNTS_PER_PAGE: i64 = 50;

fn status_label(person: &Person) -> &'static str {
    match person.status {
        AccountStatus::Locked => "Locked",
        AccountStatus::Deleted => "Deleted",
        AccountStatus::Active if person.needs_account() => "No POSIX account yet",
        AccountStatus::Active => "Active",
    }
}

impl From<StaffError> for WebError {
    fn from(error: StaffError) -> Self {
        match error {
            StaffError::EmailTaken => {
                WebError::Conflict("Another account already uses this email address.".into())
            }
            StaffError::WrongState => WebError::Conflict(
                "The account changed meanwhile (locked, unlocked or deleted by someone else). Reload its page and try again.".into(),
            ),
            StaffError::LastAdmin => WebError::Conflict(
                "This is the last site administrator: grant the role to someone else first.".into(),
            ),
            StaffError::Store(error) => error.into(),
        }
    }
}

impl From<StaffActionError> for WebError {
    fn from(error: StaffActionError) -> Self {
        match error {
            StaffActionError::Refused(refusal @ Refusal::StaffAccount) => {
                WebError::Forbidden(refusal.message().into())
            }
            StaffActionError::Refused(refusal) => WebError::Conflict(refusal.message().into()),
            StaffActionError::Conflict(message) => WebError::Conflict(message.into()),
            StaffActionError::Staff(error) => error.into(),
            StaffActionError::Store(error) => error.into(),
        }
    }
}

/// The signed-in staff member as the use cases take them.
fn actor<'a>(user: &'a SignedIn, ip: Option<&'a str>) -> StaffActor<'a> {
    StaffActor {
        person: &user.person,
        client_ip: ip,
    }
}

// ------------------------------------------------------------------ account search

#[derive(Deserialize)]
pub struct AccountsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    page: Option<i64>,
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/accounts.html")]
struct AccountsPage {
    layout: Layout,
    notice: Option<&'static str>,
    query: String,
    status: StatusFilter,
    statuses: &'static [StatusFilter],
    errors: FormErrors,
    people: Vec<Person>,
    invitations: Vec<InvitationRow>,
    pager: Pager,
    /// The query string of this search, for the paging links.
    search_params: String,
}

/// An invitation not accepted yet, as the account search lists it.
struct InvitationRow {
    name: String,
    email: String,
    invited_to: String,
    sent: String,
    state: &'static str,
}

const INVITATIONS_LISTED: i64 = 50;

impl AccountsPage {
    fn status_of(&self, person: &Person) -> &'static str {
        status_label(person)
    }
}

pub async fn accounts(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<AccountsQuery>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ViewAccounts, None).await?;
    let mut errors = FormErrors::default();
    let text = errors.check(SearchText::parse(&query.q)).flatten();
    let status = StatusFilter::parse(&query.status).unwrap_or_else(|| {
        errors.add(FieldError::new("status", "Choose a status from the list."));
        StatusFilter::Any
    });
    let layout = Layout::for_user(&user)?;
    if !errors.is_empty() {
        return render_with_status(
            StatusCode::BAD_REQUEST,
            &AccountsPage {
                layout,
                notice: None,
                query: query.q.clone(),
                status,
                statuses: &StatusFilter::ALL,
                errors,
                people: Vec::new(),
                invitations: Vec::new(),
                pager: Pager::new(None, ACCOUNTS_PER_PAGE, 0),
                search_params: String::new(),
            },
        );
    }
    let today = today_iso();
    let search = |page: i64| AccountSearch {
        text: text.as_ref().map(SearchText::as_str),
        status,
        today: &today,
        limit: ACCOUNTS_PER_PAGE,
        offset: (page - 1) * ACCOUNTS_PER_PAGE,
    };
    let requested = query.page.unwrap_or(1).clamp(1, 1_000_000);
    let mut found = ctx.store.search_accounts(&search(requested)).await?;
    let pager = Pager::new(Some(requested), ACCOUNTS_PER_PAGE, found.total);
    if pager.page != requested {
        // Asked for a page past the end: show the last one.
        found = ctx.store.search_accounts(&search(pager.page)).await?;
    }
    let invitations = if status.shows_invitations() && pager.page == 1 {
        let now = now();
        ctx.store
            .waiting_invitations(text.as_ref().map(SearchText::as_str), INVITATIONS_LISTED)
            .await?
            .into_iter()
            .map(|waiting| {
                let invitation = waiting.invitation;
                InvitationRow {
                    name: match &invitation.given_name {
                        Some(given) => format!("{given} {}", invitation.surname),
                        None => invitation.surname.clone(),
                    },
                    invited_to: waiting
                        .organisation_name
                        .unwrap_or_else(|| invitation.role.label().to_string()),
                    sent: format_date(invitation.sent_at.unwrap_or(invitation.created_at)),
                    state: if now >= invitation.expires_at {
                        "Expired"
                    } else {
                        "Waiting"
                    },
                    email: invitation.email,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    render(&AccountsPage {
        layout,
        invitations,
        notice: match query.done.as_deref() {
            Some("deleted") => Some(
                "The account was deleted. Its username and uidNumber will never be given to anyone else.",
            ),
            _ => None,
        },
        search_params: format!(
            "q={}&status={}",
            query_value(&query.q),
            query_value(status.as_str())
        ),
        query: query.q.clone(),
        status,
        statuses: &StatusFilter::ALL,
        errors,
        people: found.people,
        pager,
    })
}

// ------------------------------------------------------------------ one account

/// One attribute of the LDAP entry: what the portal expects beside what LDAP holds.
struct AttributeRow {
    name: &'static str,
    expected: String,
    live: String,
    differs: bool,
}

/// The LDAP part of the account page.
enum LdapView {
    /// A linked directory entry or an account still being set up: nothing to compare.
    NotManaged,
    Unreachable(String),
    Compared {
        missing: bool,
        rows: Vec<AttributeRow>,
    },
}

impl LdapView {
    fn differences(&self) -> usize {
        match self {
            LdapView::Compared { rows, .. } => rows.iter().filter(|row| row.differs).count(),
            _ => 0,
        }
    }
}

#[derive(Template)]
#[template(path = "staff/account.html")]
struct AccountPage {
    layout: Layout,
    notice: Option<&'static str>,
    person: Person,
    status: &'static str,
    created: String,
    locked: Option<String>,
    memberships: Vec<PersonMembership>,
    roles: Vec<&'static str>,
    keys: Vec<StoredKey>,
    sessions: Vec<String>,
    ldap: LdapView,
    ldap_pending: bool,
    history: Vec<HistoryRow>,
    /// What the contact form shows (the person's values, or what was typed).
    surname: String,
    given_name: String,
    email: String,
    errors: FormErrors,
    may: Granted,
    /// False for a staff account seen by someone who is not a site administrator (and for
    /// your own account): only resync is offered then.
    may_change: bool,
    /// The staff member's own account.
    own: bool,
}

impl AccountPage {
    fn can(&self, permission: &str) -> bool {
        let deleted = self.person.status == AccountStatus::Deleted;
        if permission != "resync" && !self.may_change {
            return false;
        }
        // Nobody locks or deletes themselves; the controls are not offered.
        if self.own && (permission == "lock" || permission == "delete") {
            return false;
        }
        let wanted = match permission {
            "edit" => Permission::EditAccounts,
            "reset" => Permission::SendPasswordReset,
            "lock" => Permission::LockAccounts,
            "keys" => Permission::RemoveKeys,
            "resync" => Permission::ResyncAccounts,
            "delete" => Permission::DeleteAccounts,
            _ => return false,
        };
        !deleted && self.may.allows(wanted)
    }
}

struct HistoryRow {
    when: String,
    actor: String,
    action: String,
    details: String,
    client_ip: String,
}

impl From<RecordedEvent> for HistoryRow {
    fn from(event: RecordedEvent) -> Self {
        Self {
            when: format_date(event.occurred_at),
            actor: event.actor_name.unwrap_or_else(|| "Roster".into()),
            action: event.action,
            details: event.details,
            client_ip: event.client_ip.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

/// Checks the permission site-wide and loads the account the route names (404 if none).
async fn staff_and_account(
    ctx: &AppContext,
    user: &SignedIn,
    permission: Permission,
    person_id: &str,
) -> Result<Person, WebError> {
    guard::require(ctx, user, permission, None).await?;
    ctx.store
        .person_by_id(person_id)
        .await?
        .ok_or(WebError::NotFound)
}

pub async fn account(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::ViewAccounts, &path).await?;
    let notice = match query.done.as_deref() {
        Some("contact") => Some("Saved. The LDAP entry follows."),
        Some("contact-mail-failed") => Some(
            "Saved, but the notification to the old and new address could not be sent: tell the person yourself.",
        ),
        Some("reset") => {
            Some("A password-reset link was emailed to the person. It works once, for one hour.")
        }
        Some("locked") => Some(
            "The account is locked: its sessions ended, it cannot sign in, and its LDAP entry no longer has a password or keys.",
        ),
        Some("unlocked") => {
            Some("The account is unlocked: sign-in, LDAP bind and SSH keys work again.")
        }
        Some("key-removed") => Some("The key was removed from the account and from LDAP."),
        Some("resynced") => {
            Some("The entry and the groups were rewritten from the portal's state.")
        }
        _ => None,
    };
    let page = account_page(&ctx, &user, person, notice, FormErrors::default(), None).await?;
    render(&page)
}

/// What staff typed into the contact form, shown again when it had errors.
struct TypedContact {
    surname: String,
    given_name: String,
    email: String,
}

async fn account_page(
    ctx: &AppContext,
    user: &SignedIn,
    person: Person,
    notice: Option<&'static str>,
    errors: FormErrors,
    typed: Option<TypedContact>,
) -> Result<AccountPage, WebError> {
    let may = guard::site_wide(ctx, user).await?;
    let may_change = staff_actions::may_change_account(ctx, &user.person, &person).await?;
    let memberships = ctx.store.memberships_of_person(&person.id).await?;
    let roles = ctx
        .store
        .person_roles(&person.id)
        .await?
        .iter()
        .filter_map(|role| Role::parse(role))
        .filter(|role| role.is_site_wide())
        .map(Role::label)
        .collect();
    let keys = ctx.store.keys_of(&person.id).await?;
    let sessions = ctx
        .store
        .session_expiries_of(&person.id, now())
        .await?
        .into_iter()
        .map(format_date)
        .collect();
    let ldap = ldap_view(ctx, &person).await?;
    let ldap_pending = ctx
        .store
        .has_pending_job(JobKind::SyncAccount, &person.id)
        .await?;
    let history = ctx
        .store
        .audit_of_person(&person.id, 100)
        .await?
        .into_iter()
        .map(HistoryRow::from)
        .collect();
    let typed = typed.unwrap_or_else(|| TypedContact {
        surname: person.surname.clone(),
        given_name: person.given_name.clone().unwrap_or_default(),
        email: person.email.clone(),
    });
    Ok(AccountPage {
        layout: Layout::for_user(user)?,
        notice,
        status: status_label(&person),
        created: format_date(person.created_at),
        locked: person.locked_at.map(|at| match &person.lock_reason {
            Some(reason) if !reason.is_empty() => format!("{} — {reason}", format_date(at)),
            _ => format_date(at),
        }),
        memberships,
        roles,
        keys,
        sessions,
        ldap,
        ldap_pending,
        history,
        surname: typed.surname,
        given_name: typed.given_name,
        email: typed.email,
        errors,
        may,
        may_change,
        own: person.id == user.person.id,
        person,
    })
}

async fn ldap_view(ctx: &AppContext, person: &Person) -> Result<LdapView, WebError> {
    let Some(expected) = expected_account(ctx, person).await? else {
        return Ok(LdapView::NotManaged);
    };
    if person.status == AccountStatus::Deleted {
        return Ok(LdapView::NotManaged);
    }
    let live = match ctx.directory.account_entry(&expected.username).await {
        Ok(live) => live,
        Err(error) => return Ok(LdapView::Unreachable(error.to_string())),
    };
    let missing = live.is_none();
    let live = live.unwrap_or_default();
    let rows = expected
        .owned_attributes()
        .into_iter()
        .map(|(name, expected)| compare(name, expected, &live))
        .collect();
    Ok(LdapView::Compared { missing, rows })
}

/// Compares one attribute as sets of values. Password hashes are never shown.
fn compare(name: &'static str, mut expected: Vec<String>, live: &LiveEntry) -> AttributeRow {
    let mut held = live
        .iter()
        .find(|(attribute, _)| attribute.eq_ignore_ascii_case(name))
        .map(|(_, values)| values.clone())
        .unwrap_or_default();
    expected.sort();
    held.sort();
    let differs = expected != held;
    let show = |values: &[String]| -> String {
        if values.is_empty() {
            return "(none)".into();
        }
        match name {
            "userPassword" => "a password hash".into(),
            "sshPublicKey" => format!("{} key(s)", values.len()),
            _ => values.join(", "),
        }
    };
    let mut live_text = show(&held);
    if differs && name == "userPassword" && !held.is_empty() && !expected.is_empty() {
        live_text = "a different password hash".into();
    }
    AttributeRow {
        name,
        expected: show(&expected),
        live: live_text,
        differs,
    }
}

// ------------------------------------------------------------------ actions

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
    let ip = super::audit_ip(&req, &ctx);
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

/// An audit event by the staff member making the request.
fn staff_event<'a>(
    user: &'a SignedIn,
    ip: Option<&'a str>,
    action: &'static str,
    details: String,
) -> AuditEvent<'a> {
    AuditEvent {
        actor_id: Some(&user.person.id),
        action,
        client_ip: ip,
        details,
        ..AuditEvent::default()
    }
}

/// Back to the account's page with a notice.
fn back_to_account(person: &Person, done: &str) -> HttpResponse {
    see_other(&format!("/admin/accounts/{}?done={done}", person.id))
}

fn deleted_account() -> WebError {
    WebError::Conflict("This account was deleted; nothing can be changed on it.".into())
}

fn locked_account() -> WebError {
    WebError::Conflict("This account is locked: unlock it first.".into())
}

/// Emails the person a reset link; staff never see it.
pub async fn send_reset(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::SendPasswordReset, &path).await?;
    let ip = super::audit_ip(&req, &ctx);
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
    let ip = super::audit_ip(&req, &ctx);
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
    let ip = super::audit_ip(&req, &ctx);
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
    let ip = super::audit_ip(&req, &ctx);
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
    let ip = super::audit_ip(&req, &ctx);
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

// ------------------------------------------------------------------ deletion

#[derive(Template)]
#[template(path = "staff/delete.html")]
struct DeletePage {
    layout: Layout,
    person: Person,
    /// What the admin must type to confirm: the username, or the email address.
    confirm_with: String,
    memberships: Vec<PersonMembership>,
    errors: FormErrors,
}

fn confirmation_of(person: &Person) -> String {
    person
        .username
        .clone()
        .unwrap_or_else(|| person.email.clone())
}

pub async fn delete_form(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::DeleteAccounts, &path).await?;
    if person.status == AccountStatus::Deleted {
        return Err(deleted_account());
    }
    render(&DeletePage {
        layout: Layout::for_user(&user)?,
        confirm_with: confirmation_of(&person),
        memberships: ctx.store.memberships_of_person(&person.id).await?,
        person,
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::DeleteAccounts, &path).await?;
    if person.status == AccountStatus::Deleted {
        return Err(deleted_account());
    }
    let confirm_with = confirmation_of(&person);
    if form.confirm.trim() != confirm_with {
        let mut errors = FormErrors::default();
        errors.add(FieldError::new(
            "confirm",
            format!("Type {confirm_with} exactly to confirm the deletion."),
        ));
        return render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &DeletePage {
                layout: Layout::for_user(&user)?,
                memberships: ctx.store.memberships_of_person(&person.id).await?,
                confirm_with,
                person,
                errors,
            },
        );
    }
    let ip = super::audit_ip(&req, &ctx);
    let details = format!(
        "deleted {} ({}, uidNumber {})",
        person.display_name(),
        confirm_with,
        person
            .uid_number
            .map_or_else(|| "none".to_string(), |uid| uid.to_string())
    );
    staff_actions::delete(&ctx, actor(&user, ip.as_deref()), &person, details).await?;
    Ok(see_other("/admin/accounts?done=deleted"))
}

// ------------------------------------------------------------------ staff roles

#[derive(Template)]
#[template(path = "staff/staff.html")]
struct StaffPage {
    layout: Layout,
    notice: Option<&'static str>,
    grants: Vec<StaffGrant>,
    roles: [Role; 2],
    email: String,
    role: String,
    errors: FormErrors,
}

impl StaffPage {
    fn granted_on(&self, grant: &StaffGrant) -> String {
        format_date(grant.granted_at)
    }
}

#[derive(Deserialize)]
pub struct StaffQuery {
    done: Option<String>,
}

async fn staff_page(
    ctx: &AppContext,
    user: &SignedIn,
    notice: Option<&'static str>,
    typed: Option<&GrantForm>,
    errors: FormErrors,
) -> Result<StaffPage, WebError> {
    Ok(StaffPage {
        layout: Layout::for_user(user)?,
        notice,
        grants: ctx.store.staff().await?,
        roles: [Role::Helpdesk, Role::SiteAdmin],
        email: typed.map(|form| form.email.clone()).unwrap_or_default(),
        role: typed.map(|form| form.role.clone()).unwrap_or_default(),
        errors,
    })
}

pub async fn staff(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<StaffQuery>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageStaff, None).await?;
    let notice = match query.done.as_deref() {
        Some("granted") => Some("The role was granted."),
        Some("already") => Some("They already held that role."),
        Some("revoked") => Some("The role was revoked."),
        _ => None,
    };
    render(&staff_page(&ctx, &user, notice, None, FormErrors::default()).await?)
}

#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

fn staff_role(value: &str) -> Option<Role> {
    Role::parse(value).filter(|role| role.is_site_wide())
}

pub async fn grant(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<GrantForm>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageStaff, None).await?;
    let mut errors = FormErrors::default();
    let role = staff_role(&form.role);
    if role.is_none() {
        errors.add(FieldError::new(
            "role",
            "Choose Helpdesk or Site administrator.",
        ));
    }
    let email = errors.check(Email::parse(&form.email));
    let person = match &email {
        Some(email) => ctx
            .store
            .person_by_email(email)
            .await?
            .filter(|person| person.status == AccountStatus::Active),
        None => None,
    };
    if email.is_some() && person.is_none() {
        errors.add(FieldError::new(
            "email",
            "No active account has this email address. Invite the person first.",
        ));
    }
    let (Some(role), Some(person), true) = (role, person, errors.is_empty()) else {
        let page = staff_page(&ctx, &user, None, Some(&form), errors).await?;
        return render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let ip = super::audit_ip(&req, &ctx);
    let granted = ctx
        .store
        .grant_site_role(
            &person.id,
            role,
            &user.person.id,
            staff_event(
                &user,
                ip.as_deref(),
                "staff.granted",
                format!("granted {} to {}", role.label(), person.display_name()),
            ),
            now(),
        )
        .await?;
    Ok(see_other(if granted {
        "/admin/staff?done=granted"
    } else {
        "/admin/staff?done=already"
    }))
}

pub async fn revoke(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageStaff, None).await?;
    let (person_id, role) = path.into_inner();
    let role = staff_role(&role).ok_or(WebError::NotFound)?;
    let person = ctx
        .store
        .person_by_id(&person_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let ip = super::audit_ip(&req, &ctx);
    let revoked =
        staff_actions::revoke_staff_role(&ctx, actor(&user, ip.as_deref()), &person, role).await?;
    if !revoked {
        return Err(WebError::NotFound);
    }
    Ok(see_other("/admin/staff?done=revoked"))
}
