//! The signed-in person's start page, for each audience: where they belong and what they
//! may use, what is left to do, what waits in the organisations they run, and what waits
//! for staff.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::account::see_other;
use super::error::WebError;
use super::guard::Granted;
use super::identity::SignedIn;
use super::pages::{Layout, filters, render, staff_places};
use crate::context::AppContext;
use crate::domain::{EndDate, Permission, Role};
use crate::store::home::{EndingMemberships, HomeMembership, WaitingInvitations};
use crate::store::jobs::JobKind;

/// Memberships ending within this many days are shown to those who manage members.
const ENDING_SOON_DAYS: i64 = 30;
/// Most waiting invitations and ending memberships listed per organisation.
const LISTED_PER_ORGANISATION: i64 = 3;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    layout: Layout,
    name: String,
    email: &'a str,
    username: Option<&'a str>,
    /// Site-wide roles (helpdesk, administrator); roles in organisations are listed with them.
    site_roles: Vec<&'static str>,
    notice: Option<&'a str>,
    uid_number: Option<i64>,
    gid_number: Option<i64>,
    ldap_pending: bool,
    organisations: Vec<OrganisationRow>,
    resources: Vec<ResourceRow>,
    to_do: Vec<ToDo>,
    staff: Option<StaffView>,
}

struct OrganisationRow {
    id: String,
    name: String,
    role: &'static str,
    ends_on: Option<String>,
    /// The membership is past its end date: it gives nothing any more.
    ended: bool,
    /// Waiting invitations, for those who may manage them.
    invitations: Option<WaitingInvitations>,
    /// Memberships ending soon, for those who may manage members.
    ending: Option<EndingMemberships>,
}

struct ResourceRow {
    name: String,
    kind: String,
    organisation: String,
    /// The resource's page, when the person may read it.
    href: Option<String>,
}

/// Something the person still has to do, with the page that does it (none while an
/// earlier step must come first).
struct ToDo {
    text: &'static str,
    href: Option<&'static str>,
}

struct StaffView {
    /// Outbox jobs failed for good (`None`: may not manage the outbox).
    failed_jobs: Option<i64>,
    /// Accounts whose directory change waits (`None`: may not view accounts).
    pending_ldap: Option<i64>,
    links: Vec<(&'static str, &'static str)>,
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
    let today = ctx.clock.today_iso();
    let memberships = ctx.store.home_memberships(&user.person.id, &today).await?;
    // Members need their POSIX account: keep bringing them back until it is set up. Anyone
    // just activated (staff too) is led there once; afterwards the list below offers it.
    if user.person.needs_account() && (!memberships.is_empty() || query.welcome.is_some()) {
        return Ok(see_other("/account/setup"));
    }
    let ldap_pending = ctx
        .store
        .has_pending_job(JobKind::SyncAccount, &user.person.id)
        .await?;
    let site_roles = ctx
        .store
        .person_roles(&user.person.id)
        .await?
        .iter()
        .filter_map(|role| Role::parse(role))
        .map(|role| role.label())
        .collect();
    let organisations = organisation_rows(&ctx, &user, memberships.iter()).await?;
    let resources = resource_rows(&ctx, &user, &memberships, &today).await?;
    let to_do = to_do(&ctx, &user).await?;
    let staff = staff_view(&ctx, &user).await?;
    render(&HomePage {
        layout: Layout::for_user(&user)?,
        name: user.person.display_name(),
        email: &user.person.email,
        username: user.person.username.as_deref(),
        site_roles,
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
        organisations,
        resources,
        to_do,
        staff,
    })
}

async fn organisation_rows(
    ctx: &AppContext,
    user: &SignedIn,
    memberships: impl Iterator<Item = &HomeMembership>,
) -> Result<Vec<OrganisationRow>, WebError> {
    let now = ctx.clock.now();
    let today = ctx.clock.today();
    let soon = today.saturating_add(time::Duration::days(ENDING_SOON_DAYS));
    let window = (
        EndDate::from_date(today).to_iso(),
        EndDate::from_date(soon).to_iso(),
    );
    let mut rows = Vec::new();
    for membership in memberships {
        let granted = Granted::of(user, membership.held.clone());
        let invitations = if granted.allows(Permission::ManageInvitations) {
            Some(
                ctx.store
                    .waiting_invitations_of(
                        &membership.organisation_id,
                        now,
                        LISTED_PER_ORGANISATION,
                    )
                    .await?,
            )
        } else {
            None
        };
        let ending = if granted.allows(Permission::ManageMembers) {
            Some(
                ctx.store
                    .memberships_ending_between(
                        &membership.organisation_id,
                        (&window.0, &window.1),
                        LISTED_PER_ORGANISATION,
                    )
                    .await?,
            )
        } else {
            None
        };
        rows.push(OrganisationRow {
            id: membership.organisation_id.clone(),
            name: membership.organisation_name.clone(),
            role: membership.role.label(),
            ends_on: membership.ends_on.clone(),
            ended: membership
                .ends_on
                .as_deref()
                .is_some_and(|ends_on| ends_on < window.0.as_str()),
            invitations,
            ending,
        });
    }
    Ok(rows)
}

/// The resources the person may use, by the same rule as the directory groups.
async fn resource_rows(
    ctx: &AppContext,
    user: &SignedIn,
    memberships: &[HomeMembership],
    today: &str,
) -> Result<Vec<ResourceRow>, WebError> {
    let may_read = |organisation_id: &str| {
        memberships.iter().any(|membership| {
            membership.organisation_id == organisation_id
                && Granted::of(user, membership.held.clone()).allows(Permission::ReadResources)
        })
    };
    Ok(ctx
        .store
        .resources_usable_by(&user.person.id, today)
        .await?
        .into_iter()
        .map(|(resource, organisation)| ResourceRow {
            href: may_read(&resource.organisation_id).then(|| {
                format!(
                    "/orgs/{}/resources/{}",
                    resource.organisation_id, resource.id
                )
            }),
            name: resource.name,
            kind: resource.kind,
            organisation,
        })
        .collect())
}

async fn to_do(ctx: &AppContext, user: &SignedIn) -> Result<Vec<ToDo>, WebError> {
    let mut steps = Vec::new();
    if user.person.needs_account() {
        steps.push(ToDo {
            text: "Choose your username and login shell",
            href: Some("/account/setup"),
        });
        steps.push(ToDo {
            text: "Then add an SSH key, to log in to the computers",
            href: None,
        });
    } else if user.person.uid_number.is_some() && !ctx.store.has_ssh_key(&user.person.id).await? {
        steps.push(ToDo {
            text: "Add an SSH key, to log in to the computers",
            href: Some("/account/keys"),
        });
    }
    Ok(steps)
}

async fn staff_view(ctx: &AppContext, user: &SignedIn) -> Result<Option<StaffView>, WebError> {
    let held = &user.site_permissions;
    let links = staff_places(held);
    if links.is_empty() {
        return Ok(None);
    }
    let may_jobs = held.contains(&Permission::ManageJobs);
    let may_accounts = held.contains(&Permission::ViewAccounts);
    let (failed, pending) = if may_jobs || may_accounts {
        ctx.store.staff_waiting().await?
    } else {
        (0, 0)
    };
    Ok(Some(StaffView {
        failed_jobs: may_jobs.then_some(failed),
        pending_ldap: may_accounts.then_some(pending),
        links,
    }))
}
