//! Resources of organisations: creating one (a gidNumber from the one allocator, a group
//! name claimed with people's and organisations'), changing who may use it, retiring it,
//! and the access check. Access is never copied: each resource's posixGroup is rewritten
//! from the rule whenever anything it depends on changes (see `store::unit_of_work`).

use crate::context::AppContext;
use crate::directory::DirectoryError;
use crate::domain::{
    Access, Description, EndDate, FieldError, OrganisationName, ResourceKind, ShortName, Site,
    resource_group_name,
};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::organisations::Organisation;
use crate::store::resources::{NewResource, Resource, ResourceChange, ResourceStatus};
use crate::usecases::Actor;
use crate::usecases::ids::{self, IdError, WhenLdapDown};

/// Who changes a resource, and what they may do to any kind.
#[derive(Clone, Copy)]
pub struct ResourceActor<'a> {
    pub actor: Actor<'a>,
    pub client_ip: Option<&'a str>,
    /// A site admin: any kind, any organisation, and retiring. Others (owners and managers
    /// holding `resources.manage`) only the site's self-service kinds of their organisation.
    pub site_admin: bool,
}

impl<'a> ResourceActor<'a> {
    fn event(
        &self,
        action: &'static str,
        organisation_id: &'a str,
        details: String,
    ) -> AuditEvent<'a> {
        AuditEvent {
            actor_id: self.actor.audit_id(),
            action,
            organisation_id: Some(organisation_id),
            client_ip: self.client_ip,
            details,
            ..AuditEvent::default()
        }
    }
}

pub struct NewResourceRequest {
    pub short_name: ShortName,
    pub name: OrganisationName,
    pub kind: ResourceKind,
    pub site: Site,
    pub description: Description,
    pub ends_on: Option<EndDate>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// A field is wrong (the group name it would make, say).
    #[error("{}", .0.message)]
    Invalid(FieldError),
    #[error("the name {0:?} is taken by a group or a person")]
    NameTaken(String),
    /// This kind is made by site admins only, or the action is theirs.
    #[error("{0}")]
    NotYours(&'static str),
    /// Changed since it was read; nothing was saved.
    #[error("the resource changed meanwhile")]
    Stale,
    #[error("this resource is retired")]
    Retired,
    #[error("no gidNumber is left in the configured range")]
    GidRangeExhausted,
    #[error("the directory is needed to allocate a gidNumber but is unavailable: {0}")]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn may_handle_kind(ctx: &AppContext, actor: &ResourceActor<'_>, kind: &str) -> bool {
    actor.site_admin
        || ctx
            .settings
            .resources
            .self_service_kinds
            .iter()
            .any(|allowed| allowed == kind)
}

const ADMINS_KIND: &str = "Only site administrators create and change resources of this kind.";

pub async fn create_resource(
    ctx: &AppContext,
    organisation: &Organisation,
    actor: ResourceActor<'_>,
    request: NewResourceRequest,
) -> Result<Resource, ResourceError> {
    if !may_handle_kind(ctx, &actor, request.kind.as_str()) {
        return Err(ResourceError::NotYours(ADMINS_KIND));
    }
    let group = resource_group_name(&organisation.short_name, &request.short_name)
        .map_err(ResourceError::Invalid)?;
    // Checked first so a taken name burns no gidNumber; the claim in the store decides races.
    if ctx.store.name_used_in_portal(group.as_str()).await?
        || ctx.directory.name_taken(group.as_str()).await?
    {
        return Err(ResourceError::NameTaken(group.to_string()));
    }
    let gid_number = ids::allocate_gid(ctx, group.as_str(), None, WhenLdapDown::Refuse)
        .await
        .map_err(|error| match error {
            IdError::RangeExhausted(_) => ResourceError::GidRangeExhausted,
            IdError::Directory(error) => ResourceError::Directory(error),
            IdError::Store(error) => ResourceError::Store(error),
        })?;
    let ends_on = request.ends_on.map(EndDate::to_iso);
    let (id, receipt) = ctx
        .store
        .create_resource(
            NewResource {
                organisation_id: &organisation.id,
                short_name: &request.short_name,
                group_name: &group,
                name: request.name.as_str(),
                kind: &request.kind,
                site: &request.site,
                description: &request.description,
                ends_on: ends_on.as_deref(),
                gid_number,
            },
            actor.event(
                "resource.created",
                &organisation.id,
                format!(
                    "created {} resource {} (group {group}, gidNumber {gid_number})",
                    request.kind.as_str(),
                    request.name.as_str()
                ),
            ),
            ctx.clock.now(),
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => ResourceError::NameTaken(group.to_string()),
            other => other.into(),
        })?;
    crate::jobs::apply(ctx, receipt).await;
    ctx.store
        .resource(&id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("resource vanished after creation".into()).into())
}

/// Whether `actor` may make `changes` to `resource` as it stands, without changing anything:
/// the rules `change_resource` applies, also asked by the confirmation page beforehand.
pub fn check_change(
    ctx: &AppContext,
    resource: &Resource,
    actor: &ResourceActor<'_>,
    changes: &[ResourceChange<'_>],
) -> Result<(), ResourceError> {
    if !may_handle_kind(ctx, actor, &resource.kind) {
        return Err(ResourceError::NotYours(ADMINS_KIND));
    }
    let deleting_group = changes
        .iter()
        .any(|change| matches!(change, ResourceChange::DeleteGroup));
    match (resource.status == ResourceStatus::Retired, deleting_group) {
        (true, false) => return Err(ResourceError::Retired),
        (false, true) => {
            return Err(ResourceError::NotYours(
                "Retire the resource before deleting its group.",
            ));
        }
        _ => {}
    }
    let admins_only = changes.iter().any(|change| {
        matches!(
            change,
            ResourceChange::Retire | ResourceChange::Move { .. } | ResourceChange::DeleteGroup
        )
    });
    if admins_only && !actor.site_admin {
        return Err(ResourceError::NotYours(
            "Only site administrators retire, move and delete resources.",
        ));
    }
    Ok(())
}

/// Changes who may use a resource, or its end date, or retires it (site admins only), all
/// at once, if it is still at `version`. Its group follows at once.
pub async fn change_resource(
    ctx: &AppContext,
    resource: &Resource,
    version: i64,
    actor: ResourceActor<'_>,
    changes: &[ResourceChange<'_>],
) -> Result<(), ResourceError> {
    check_change(ctx, resource, &actor, changes)?;
    let mut said = Vec::new();
    for change in changes {
        said.push(match change {
            ResourceChange::Restrict(true) => "restricted it to its access list".to_string(),
            ResourceChange::Restrict(false) => "opened it to every member".to_string(),
            ResourceChange::Assign(Some(person)) => format!("assigned it to {person}"),
            ResourceChange::Assign(None) => "assigned it to nobody".to_string(),
            ResourceChange::AccessList(people) => {
                format!("set its access list ({} people)", people.len())
            }
            ResourceChange::EndsOn(Some(date)) => format!("set its end date to {date}"),
            ResourceChange::EndsOn(None) => "removed its end date".to_string(),
            ResourceChange::Retire => "retired it; its group is emptied and kept".to_string(),
            ResourceChange::Move { group_name, .. } => {
                format!("moved it to another organisation; its group is now {group_name}")
            }
            ResourceChange::DeleteGroup => {
                "deleted its group from LDAP; its gidNumber stays taken".to_string()
            }
            ResourceChange::Details { name, site, .. } => {
                format!("renamed it {name:?}, site {:?}", site.as_str())
            }
        });
    }
    let event = actor.event(
        "resource.changed",
        &resource.organisation_id,
        format!("{}: {}", resource.group_name, said.join("; ")),
    );
    let receipt = ctx
        .store
        .change_resource(&resource.id, version, changes, event, ctx.clock.now())
        .await
        .map_err(|error| match error {
            StoreError::Conflict(what) => ResourceError::NameTaken(what.to_string()),
            other => other.into(),
        })?
        .ok_or(ResourceError::Stale)?;
    crate::jobs::apply(ctx, receipt).await;
    Ok(())
}

/// Moves a resource to another organisation (site admins): its group becomes
/// `<new org>-<short>`, the old one is removed, and its access list and assignment, which
/// named the old organisation's members, are cleared.
pub async fn move_resource(
    ctx: &AppContext,
    resource: &Resource,
    version: i64,
    actor: ResourceActor<'_>,
    to: &Organisation,
) -> Result<(), ResourceError> {
    let short = ShortName::parse(&resource.short_name).map_err(ResourceError::Invalid)?;
    let group = resource_group_name(&to.short_name, &short).map_err(ResourceError::Invalid)?;
    if ctx.store.name_used_in_portal(group.as_str()).await?
        || ctx.directory.name_taken(group.as_str()).await?
    {
        return Err(ResourceError::NameTaken(group.to_string()));
    }
    change_resource(
        ctx,
        resource,
        version,
        actor,
        &[ResourceChange::Move {
            organisation_id: &to.id,
            group_name: &group,
        }],
    )
    .await
}

/// The people the resource may be listed for or assigned to, by username: its
/// organisation's members. `Err` names the position and username of each one who is not.
pub async fn members_by_username(
    ctx: &AppContext,
    resource: &Resource,
    usernames: &[String],
) -> Result<Vec<String>, NotMembers> {
    let refs: Vec<&str> = usernames.iter().map(String::as_str).collect();
    let people = ctx.store.people_with(&[], &refs).await?;
    let held = ctx
        .store
        .memberships_by_person(&resource.organisation_id)
        .await?;
    let mut ids = Vec::new();
    let mut strangers = Vec::new();
    for (index, username) in usernames.iter().enumerate() {
        match people
            .iter()
            .find(|person| person.username.as_deref() == Some(username.as_str()))
            .filter(|person| held.contains_key(&person.id))
        {
            Some(person) => ids.push(person.id.clone()),
            None => strangers.push((index, username.clone())),
        }
    }
    if strangers.is_empty() {
        Ok(ids)
    } else {
        Err(NotMembers::These(strangers))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotMembers {
    /// (position, username) of each one who is not a member.
    #[error("not members of the resource's organisation: {0:?}")]
    These(Vec<(usize, String)>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether the person with `username` may use `resource` now, and why; `None` when no
/// account has that username.
pub async fn access(
    ctx: &AppContext,
    resource: &Resource,
    username: &str,
) -> Result<Option<Access>, StoreError> {
    Ok(ctx
        .store
        .access_facts(resource, username, &ctx.clock.today_iso())
        .await?
        .map(Access::decide))
}
