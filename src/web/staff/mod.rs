//! The helpdesk and site-admin consoles: account search, an account's page (with its live
//! LDAP entry beside what the portal expects), the actions staff take on an account, each
//! behind its own permission and audited, the site-wide staff roles, and the directory
//! outbox. Everything under `/admin` is here, one file per feature.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::context::AppContext;
use crate::directory::LiveEntry;
use crate::domain::{
    AccountAction, Email, FieldError, Permission, PersonName, Refusal, Role, SearchText,
};
use crate::jobs::expected_account;
use crate::store::AccountChangeError;
use crate::store::audit::RecordedEvent;
use crate::store::grants::StaffGrant;
use crate::store::jobs::JobKind;
use crate::store::memberships::PersonMembership;
use crate::store::people::{AccountSearch, StatusFilter};
use crate::store::people::{AccountStatus, Person};
use crate::store::ssh_keys::StoredKey;
use crate::usecases::staff_actions::{self, StaffActionError, StaffActor};
use crate::web::account::see_other;
use crate::web::error::WebError;
use crate::web::guard::{self, Granted};
use crate::web::identity::SignedIn;
use crate::web::pages::{
    FormErrors, Layout, Pager, filters, query_value, render, render_with_status,
};

const ACCOUNTS_PER_PAGE: i64 = 50;

fn status_label(person: &Person) -> &'static str {
    match person.status {
        AccountStatus::Locked => "Locked",
        AccountStatus::Deleted => "Deleted",
        AccountStatus::Active if person.needs_account() => "No POSIX account yet",
        AccountStatus::Active => "Active",
    }
}

impl From<AccountChangeError> for WebError {
    fn from(error: AccountChangeError) -> Self {
        match error {
            AccountChangeError::EmailTaken => {
                WebError::Conflict("Another account already uses this email address.".into())
            }
            AccountChangeError::WrongState => WebError::Conflict(
                "The account changed meanwhile (locked, unlocked or deleted by someone else). Reload its page and try again.".into(),
            ),
            AccountChangeError::LastAdmin => WebError::Conflict(
                "This is the last site administrator: grant the role to someone else first.".into(),
            ),
            AccountChangeError::Store(error) => error.into(),
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
            StaffActionError::NotFound => WebError::NotFound,
            StaffActionError::NoActiveAccount => WebError::BadRequest(
                "No active account has this email address. Invite the person first.".into(),
            ),
            StaffActionError::Unavailable(message) => WebError::Unavailable(message.into()),
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

/// Back to the account's page with a notice.
fn back_to_account(person: &Person, done: &str) -> HttpResponse {
    see_other(&format!("/admin/accounts/{}?done={done}", person.id))
}

fn deleted_account() -> WebError {
    WebError::Conflict("This account was deleted; nothing can be changed on it.".into())
}

mod account;
mod actions;
mod delete;
mod drift;
mod jobs;
mod roles;
mod scim;
mod search;

pub use account::account;
pub use actions::{
    change_contact, confirm_remove_key, lock, remove_key, resync, send_reset, unlock,
};
pub use delete::{delete, delete_form};
pub use drift::{
    confirm_repair as confirm_drift_repair, confirm_repair_all as confirm_drift_repair_all, drift,
    repair as drift_repair, repair_all as drift_repair_all,
};
pub use jobs::{jobs, retry};
pub use roles::{confirm_revoke, grant, revoke, staff};
pub use scim::{drift as scim_drift, repair as scim_repair};
pub use search::accounts;
