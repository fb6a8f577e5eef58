//! Creating organisations (with a gidNumber) and changing their membership. Every change
//! is stored with its group-sync job in one unit of work; `jobs::apply` then tries LDAP
//! straight away.

use crate::context::AppContext;
use crate::directory::DirectoryError;
use crate::domain::{Description, Email, EndDate, OrganisationName, Role, ShortName};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::memberships::{AddMemberError, DirectoryPersonRef, Member, MembershipChange};
use crate::store::organisations::{NewOrganisation, Organisation, Versioned};
use crate::usecases::Actor;
use crate::usecases::ids::{self, IdError, WhenLdapDown};

#[derive(Debug, thiserror::Error)]
pub enum OrganisationError {
    #[error("an organisation with the short name {0:?} already exists")]
    ShortNameTaken(String),
    #[error("no gidNumber is left in the configured range")]
    GidRangeExhausted,
    #[error("the directory is needed to allocate a gidNumber but is unavailable: {0}")]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct NewOrganisationRequest<'a> {
    pub name: OrganisationName,
    pub short_name: ShortName,
    pub description: Description,
    pub actor_id: Option<&'a str>,
    pub client_ip: Option<&'a str>,
}

pub async fn create_organisation(
    ctx: &AppContext,
    request: NewOrganisationRequest<'_>,
) -> Result<Organisation, OrganisationError> {
    // Check first so a taken name does not burn a gidNumber; the unique index still
    // decides races.
    // Group names are shared with people's private groups, hence any name in use.
    if ctx
        .store
        .name_used_in_portal(request.short_name.as_str())
        .await?
    {
        return Err(OrganisationError::ShortNameTaken(
            request.short_name.to_string(),
        ));
    }
    // An existing group or person of that name in LDAP would be taken over.
    if ctx
        .directory
        .name_taken(request.short_name.as_str())
        .await?
    {
        return Err(OrganisationError::ShortNameTaken(
            request.short_name.to_string(),
        ));
    }
    let gid_number =
        ids::allocate_gid(ctx, request.short_name.as_str(), None, WhenLdapDown::Refuse)
            .await
            .map_err(|error| match error {
                IdError::RangeExhausted(_) => OrganisationError::GidRangeExhausted,
                IdError::Directory(error) => OrganisationError::Directory(error),
                IdError::Store(error) => OrganisationError::Store(error),
            })?;
    let (id, receipt) = ctx
        .store
        .create_organisation(
            NewOrganisation {
                name: &request.name,
                short_name: &request.short_name,
                description: &request.description,
                gid_number,
            },
            AuditEvent {
                actor_id: request.actor_id,
                action: "organisation.created",
                client_ip: request.client_ip,
                details: format!(
                    "created {} ({}) with gidNumber {gid_number}",
                    request.name.as_str(),
                    request.short_name
                ),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => {
                OrganisationError::ShortNameTaken(request.short_name.to_string())
            }
            other => other.into(),
        })?;
    crate::jobs::apply(ctx, receipt).await;
    ctx.store
        .organisation(&id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("organisation vanished after creation".into()).into())
}

#[derive(Debug, thiserror::Error)]
pub enum AddFromDirectoryError {
    #[error("nobody with this username is in the directory")]
    NotInDirectory,
    #[error("this person has no email address in the directory")]
    NoEmail,
    #[error(transparent)]
    Add(#[from] AddMemberError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Adds the directory person `uid` as a member; their entry is linked, not copied.
pub async fn add_member_from_directory(
    ctx: &AppContext,
    organisation: &Organisation,
    uid: &str,
    role: Role,
    actor_id: &str,
    client_ip: Option<&str>,
) -> Result<(), AddFromDirectoryError> {
    let person = ctx
        .directory
        .person_by_uid(uid)
        .await?
        .ok_or(AddFromDirectoryError::NotInDirectory)?;
    let email = person
        .email
        .as_deref()
        .and_then(|email| Email::parse(email).ok())
        .ok_or(AddFromDirectoryError::NoEmail)?;
    let (_, receipt) = ctx
        .store
        .add_directory_member(
            &organisation.id,
            DirectoryPersonRef {
                dn: &person.dn,
                uid: &person.uid,
                email: &email,
                surname: &person.surname,
                given_name: person.given_name.as_deref(),
            },
            role,
            AuditEvent {
                actor_id: Some(actor_id),
                action: "member.added",
                client_ip,
                details: format!(
                    "added {} ({}) as {}",
                    person.display_name(),
                    person.uid,
                    role.as_str()
                ),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Someone acting in an organisation (an owner, manager or site admin, or an API client
/// holding their permissions), and where the request came from.
#[derive(Clone, Copy)]
pub struct OrgActor<'a> {
    pub actor: Actor<'a>,
    pub client_ip: Option<&'a str>,
    /// May hand out and change the roles manager and owner (`members.grant_manager`).
    pub may_grant_manager: bool,
}

impl<'a> OrgActor<'a> {
    fn event(
        &self,
        organisation: &'a Organisation,
        action: &'static str,
        details: String,
    ) -> AuditEvent<'a> {
        AuditEvent {
            actor_id: self.actor.audit_id(),
            organisation_id: Some(&organisation.id),
            action,
            client_ip: self.client_ip,
            details,
            ..AuditEvent::default()
        }
    }

    /// The roles this actor may hand out.
    pub fn grantable_roles(&self) -> Vec<Role> {
        grantable_roles(self.may_grant_manager)
    }
}

/// The roles someone may hand out in an organisation: managers only members; owners and
/// admins (`members.grant_manager`) all.
pub fn grantable_roles(may_grant_manager: bool) -> Vec<Role> {
    if may_grant_manager {
        Role::ORGANISATION_ROLES.to_vec()
    } else {
        vec![Role::Member]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// Someone changed it since the form was loaded; nothing was saved.
    #[error("the membership changed meanwhile")]
    Stale,
    /// Changing an owner or manager, or making one, needs `members.grant_manager`.
    #[error("only the organisation's owner can change its owners and managers")]
    RoleNotGrantable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Saves a new description if the organisation is still at `version`.
pub async fn update_description(
    ctx: &AppContext,
    actor: OrgActor<'_>,
    organisation: &Organisation,
    version: i64,
    description: &Description,
) -> Result<(), MembershipError> {
    update_details(ctx, actor, organisation, version, None, Some(description)).await
}

/// Changes the organisation's name and/or description if it is still at `version`.
pub async fn update_details(
    ctx: &AppContext,
    actor: OrgActor<'_>,
    organisation: &Organisation,
    version: i64,
    name: Option<&OrganisationName>,
    description: Option<&Description>,
) -> Result<(), MembershipError> {
    let (action, details) = match (name, description) {
        (Some(name), _) => (
            "organisation.renamed",
            format!(
                "renamed the organisation to {}{}",
                name.as_str(),
                if description.is_some() {
                    " and changed the description"
                } else {
                    ""
                }
            ),
        ),
        (None, _) => (
            "organisation.description_changed",
            "changed the description".to_string(),
        ),
    };
    let outcome = ctx
        .store
        .update_details(
            &organisation.id,
            version,
            name,
            description,
            actor.event(organisation, action, details),
            ctx.clock.now(),
        )
        .await?;
    match outcome {
        Versioned::Updated => Ok(()),
        Versioned::Stale => Err(MembershipError::Stale),
    }
}

/// Changes a member's role or end date, or removes them, if the membership is still at
/// `version`; the group in LDAP follows.
pub async fn change_membership(
    ctx: &AppContext,
    actor: OrgActor<'_>,
    organisation: &Organisation,
    member: &Member,
    version: i64,
    change: MembershipChange,
) -> Result<(), MembershipError> {
    let grantable = actor.grantable_roles();
    let role_ok = match &change {
        MembershipChange::Role(role) => grantable.contains(role),
        _ => true,
    };
    if !grantable.contains(&member.role) || !role_ok {
        return Err(MembershipError::RoleNotGrantable);
    }
    let name = member.display_name();
    let (action, details) = match &change {
        MembershipChange::Role(role) => (
            "member.role_changed",
            format!("changed {name}'s role to {}", role.as_str()),
        ),
        MembershipChange::EndDate(ends_on) => (
            "member.end_date_changed",
            format!(
                "set {name}'s end date to {}",
                ends_on
                    .map(EndDate::to_iso)
                    .unwrap_or_else(|| "none".into())
            ),
        ),
        MembershipChange::Remove => ("member.removed", format!("removed {name}")),
    };
    let receipt = ctx
        .store
        .change_membership(
            &organisation.id,
            &member.membership_id,
            version,
            &change,
            AuditEvent {
                subject_id: Some(&member.person_id),
                ..actor.event(organisation, action, details)
            },
            ctx.clock.now(),
        )
        .await?;
    let receipt = receipt.ok_or(MembershipError::Stale)?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}
