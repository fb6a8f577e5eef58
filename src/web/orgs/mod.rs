//! The organisation pages: overview, members, directory search, invitations, history.
//! Each handler goes through `web::guard`, which answers 404 for an unknown organisation
//! and 403 for one the person may not touch.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::context::AppContext;
use crate::domain::{
    Description, Email, EndDate, OrganisationName, Permission, PersonName, Role, SearchText,
    ShortName,
};
use crate::store::invitations::ListedInvitation;
use crate::store::memberships::{AddMemberError, Member, MembershipChange};
use crate::store::organisations::Organisation;
use crate::usecases::invitations::{InvitationRequest, create_invitation, resend_invitation};
use crate::usecases::organisations::{
    self, AddFromDirectoryError, MembershipError, NewOrganisationRequest, OrgActor,
    OrganisationError, add_member_from_directory, create_organisation,
};
use crate::web::account::see_other;
use crate::web::error::WebError;
use crate::web::guard::{self, Granted};
use crate::web::identity::SignedIn;
use crate::web::pages::{
    FormErrors, Layout, Pager, filters, query_value, render, render_with_status,
};

const MEMBERS_PER_PAGE: i64 = 50;
const DIRECTORY_PER_PAGE: usize = 25;

/// Messages shown after a redirect, chosen by a code so no text travels in URLs.
fn notice_for(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "The organisation was created.",
        "description" => "The description was saved.",
        "role" => "The role was changed.",
        "end-date" => "The end date was saved.",
        "removed" => "The member was removed from the organisation. Their account is kept.",
        "added" => "The person was added as a member.",
        "revoked" => "The invitation was withdrawn; its link no longer works.",
        _ => return None,
    })
}

/// The notice for `?done={code}`, naming whom the change was about when it was just made.
fn notice(user: &SignedIn, code: Option<&str>) -> Option<String> {
    crate::web::notice::take(&user.session, code, notice_for(code))
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    done: Option<String>,
}

fn stale() -> WebError {
    WebError::Conflict(
        "This changed since you opened the page: someone else edited it. Nothing was saved. \
         Go back, reload the page to see the current state, and try again."
            .into(),
    )
}

/// The signed-in person acting in an organisation, as the use cases take them.
fn org_actor<'a>(
    user: &'a SignedIn,
    granted: &Granted,
    client_ip: Option<&'a str>,
) -> OrgActor<'a> {
    OrgActor {
        actor: crate::usecases::Actor::Person(&user.person.id),
        client_ip,
        may_grant_manager: granted.allows(Permission::GrantManager),
    }
}

/// The roles this person may hand out in this organisation.
fn grantable_roles(granted: &Granted) -> Vec<Role> {
    organisations::grantable_roles(granted.allows(Permission::GrantManager))
}

impl From<MembershipError> for WebError {
    fn from(error: MembershipError) -> Self {
        match error {
            MembershipError::Stale => stale(),
            MembershipError::RoleNotGrantable => WebError::Forbidden(
                "Only the organisation's owner can change its owners and managers.".into(),
            ),
            MembershipError::Store(error) => error.into(),
        }
    }
}

fn parse_role(value: &str, allowed: &[Role]) -> Result<Role, crate::domain::FieldError> {
    Role::parse(value)
        .filter(|role| allowed.contains(role))
        .ok_or_else(|| crate::domain::FieldError::new("role", "Choose one of the roles offered."))
}

/// Which organisation links the person may follow.
pub struct OrgNav {
    pub(crate) id: String,
    pub(crate) current: &'static str,
    pub(crate) members: bool,
    pub(crate) directory: bool,
    pub(crate) invitations: bool,
    pub(crate) history: bool,
    pub(crate) clients: bool,
    pub(crate) edit: bool,
    pub(crate) resources: bool,
}

pub fn org_nav(granted: &Granted, organisation: &Organisation, current: &'static str) -> OrgNav {
    OrgNav {
        id: organisation.id.clone(),
        current,
        members: granted.allows(Permission::ViewOrganisation),
        directory: granted.allows(Permission::SearchDirectory),
        invitations: granted.allows(Permission::ManageInvitations),
        history: granted.allows(Permission::ViewOrganisationHistory),
        clients: granted.allows(Permission::ManageClients),
        edit: granted.allows(Permission::EditOrganisation),
        resources: granted.allows(Permission::ReadResources),
    }
}

mod list;
mod members;
mod overview;
/// A searchable, paged list (members, directory results) and the notice after a change.
#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    done: Option<String>,
}

mod directory;
mod history;
mod invitation_batches;
mod invitations;
mod resource_changes;
mod resources;

pub use directory::{add_member, directory};
pub use history::history;
pub use invitation_batches::{
    confirm as confirm_batch, errors_csv as batch_errors_csv, preview as preview_batch,
    status as batch_status,
};
pub use invitations::{confirm_revoke, invitations, invite, resend, revoke};
pub use list::{create, list};
pub use members::{change_member, confirm_remove as confirm_remove_member, member, members};
pub use overview::{show, update_description};
pub use resource_changes::{change as change_resource, confirm as confirm_resource_change};
pub use resources::{create as create_resource, resource, resources};
