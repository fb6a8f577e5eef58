//! Changing many members of an organisation at once (the API's `PATCH …/members`): all or
//! nothing, guarded by the member list's version, under the same role rules as the pages,
//! with one audit event per item and one rewrite of the posixGroup.

use std::collections::{HashMap, HashSet};

use crate::context::AppContext;
use crate::directory::DirectoryError;
use crate::directory::{DirectoryPerson, PersonKey};
use crate::domain::{Email, EndDate, ExistingUsername, Role};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::member_batch::{BatchOp, BatchStep, CurrentMembership};
use crate::store::memberships::{AddMemberError, DirectoryPersonRef};
use crate::store::organisations::Organisation;
use crate::store::people::Person;
use crate::usecases::organisations::OrgActor;

/// Most items one batch may hold.
pub const MAX_BATCH_ITEMS: usize = 1_000;

/// How an item names a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRef {
    Email(Email),
    Username(ExistingUsername),
}

pub struct AddItem {
    pub who: MemberRef,
    pub role: Role,
    pub ends_on: Option<EndDate>,
}

pub struct UpdateItem {
    pub who: MemberRef,
    /// `None` keeps the role.
    pub role: Option<Role>,
    /// `None` keeps the end date; `Some(None)` clears it.
    pub ends_on: Option<Option<EndDate>>,
}

#[derive(Default)]
pub struct MemberBatch {
    pub add: Vec<AddItem>,
    pub update: Vec<UpdateItem>,
    pub remove: Vec<MemberRef>,
}

impl MemberBatch {
    pub fn len(&self) -> usize {
        self.add.len() + self.update.len() + self.remove.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What is wrong with one item: its list (`add`, `update`, `remove`), position and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemProblem {
    pub list: &'static str,
    pub index: usize,
    pub field: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{} items are invalid; nothing was changed", .0.len())]
    Invalid(Vec<ItemProblem>),
    /// The member list changed since the caller read its version; nothing was changed.
    #[error("the member list changed meanwhile")]
    Stale,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AddMemberError> for BatchError {
    fn from(error: AddMemberError) -> Self {
        match error {
            // Someone slipped in between the check and the write.
            AddMemberError::AlreadyMember | AddMemberError::EmailTaken => BatchError::Stale,
            AddMemberError::Store(error) => BatchError::Store(error),
        }
    }
}

/// One change made, as the API reports it.
#[derive(Debug, Clone)]
pub struct BatchChange {
    pub op: &'static str,
    pub person_id: String,
    pub username: Option<String>,
    pub email: String,
    pub role: Option<Role>,
    pub ends_on: Option<String>,
}

pub struct BatchOutcome {
    pub version: i64,
    pub changes: Vec<BatchChange>,
}

/// A person an item names, once found.
#[derive(Clone)]
enum Found {
    Portal(Person),
    Directory(DirectoryPerson, Email),
}

impl Found {
    fn key(&self) -> String {
        match self {
            Found::Portal(person) => person.id.clone(),
            Found::Directory(person, _) => format!("ldap:{}", person.uid),
        }
    }

    fn describe(&self) -> String {
        match self {
            Found::Portal(person) => match &person.username {
                Some(username) => format!("{} ({username})", person.display_name()),
                None => format!("{} <{}>", person.display_name(), person.email),
            },
            Found::Directory(person, _) => format!("{} ({})", person.display_name(), person.uid),
        }
    }
}

/// The people the batch names: portal accounts first, then (for additions only) the
/// directory, in a few queries whatever the batch's size.
struct People {
    by_email: HashMap<String, Found>,
    by_username: HashMap<String, Found>,
}

impl People {
    fn find(&self, who: &MemberRef) -> Option<&Found> {
        match who {
            MemberRef::Email(email) => self.by_email.get(&email.normalized()),
            MemberRef::Username(name) => self.by_username.get(name.as_str()),
        }
    }
}

async fn find_people(ctx: &AppContext, batch: &MemberBatch) -> Result<People, BatchError> {
    let all_refs = batch
        .add
        .iter()
        .map(|item| &item.who)
        .chain(batch.update.iter().map(|item| &item.who))
        .chain(batch.remove.iter());
    let (mut emails, mut usernames): (Vec<String>, Vec<&str>) = (Vec::new(), Vec::new());
    for who in all_refs {
        match who {
            MemberRef::Email(email) => emails.push(email.normalized()),
            MemberRef::Username(name) => usernames.push(name.as_str()),
        }
    }
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    let mut people = People {
        by_email: HashMap::new(),
        by_username: HashMap::new(),
    };
    for person in ctx.store.people_with(&emails, &usernames).await? {
        let normalized = Email::parse(&person.email)
            .map(|email| email.normalized())
            .unwrap_or_else(|_| person.email.to_lowercase());
        if let Some(username) = &person.username {
            people
                .by_username
                .insert(username.clone(), Found::Portal(person.clone()));
        }
        people.by_email.insert(normalized, Found::Portal(person));
    }
    // Additions of people the portal does not know yet come from the directory.
    let (mut missing_mails, mut missing_uids) = (Vec::new(), Vec::new());
    for item in &batch.add {
        if people.find(&item.who).is_none() {
            match &item.who {
                MemberRef::Email(email) => missing_mails.push(email.as_str()),
                MemberRef::Username(name) => missing_uids.push(name.as_str()),
            }
        }
    }
    for (key, values) in [
        (PersonKey::Mail, &missing_mails),
        (PersonKey::Uid, &missing_uids),
    ] {
        if values.is_empty() {
            continue;
        }
        for person in ctx.directory.people_with(key, values).await? {
            let Some(email) = person
                .email
                .as_deref()
                .and_then(|mail| Email::parse(mail).ok())
            else {
                continue;
            };
            let found = Found::Directory(person.clone(), email.clone());
            match key {
                PersonKey::Mail => people.by_email.entry(email.normalized()).or_insert(found),
                PersonKey::Uid => people.by_username.entry(person.uid).or_insert(found),
            };
        }
    }
    Ok(people)
}

fn field_of(who: &MemberRef) -> &'static str {
    match who {
        MemberRef::Email(_) => "email",
        MemberRef::Username(_) => "username",
    }
}

const NOT_GRANTABLE: &str =
    "Only the organisation's owner can change or hand out the roles owner and manager.";

/// Checks every item and applies them all, or none: `Invalid` lists every failing item.
pub async fn apply_member_batch(
    ctx: &AppContext,
    actor: OrgActor<'_>,
    organisation: &Organisation,
    expected_version: i64,
    batch: MemberBatch,
) -> Result<BatchOutcome, BatchError> {
    if batch.is_empty() {
        // Nothing to change: the version is still checked, and stays as it is.
        return if organisation.members_version == expected_version {
            Ok(BatchOutcome {
                version: expected_version,
                changes: Vec::new(),
            })
        } else {
            Err(BatchError::Stale)
        };
    }
    let people = find_people(ctx, &batch).await?;
    let members = ctx.store.memberships_by_person(&organisation.id).await?;
    let grantable = actor.grantable_roles();
    let mut problems = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut planned: Vec<Planned> = Vec::new();
    let mut problem = |list, index, field, message: &str| {
        problems.push(ItemProblem {
            list,
            index,
            field,
            message: message.to_string(),
        });
    };
    for (index, item) in batch.add.iter().enumerate() {
        let Some(found) = people.find(&item.who) else {
            problem(
                "add",
                index,
                field_of(&item.who),
                "Nobody with this is in the portal or the directory; invite them instead.",
            );
            continue;
        };
        if !seen.insert(found.key()) {
            problem(
                "add",
                index,
                field_of(&item.who),
                "This person is named twice in the batch.",
            );
            continue;
        }
        if let Found::Portal(person) = found
            && members.contains_key(&person.id)
        {
            problem(
                "add",
                index,
                field_of(&item.who),
                "This person is already a member.",
            );
            continue;
        }
        if !grantable.contains(&item.role) {
            problem("add", index, "role", NOT_GRANTABLE);
            continue;
        }
        planned.push((
            found.clone(),
            "add",
            item.role,
            item.ends_on.map(EndDate::to_iso),
            None,
        ));
    }
    let list = "update";
    for (index, item) in batch.update.iter().enumerate() {
        let Some((found, current)) = member_of(&people, &members, &item.who) else {
            problem(
                list,
                index,
                field_of(&item.who),
                "This person is not a member.",
            );
            continue;
        };
        if !seen.insert(found.key()) {
            problem(
                list,
                index,
                field_of(&item.who),
                "This person is named twice in the batch.",
            );
            continue;
        }
        let role = item.role.unwrap_or(current.role);
        if !grantable.contains(&current.role) || !grantable.contains(&role) {
            problem(list, index, "role", NOT_GRANTABLE);
            continue;
        }
        let ends_on = match item.ends_on {
            Some(ends_on) => ends_on.map(EndDate::to_iso),
            None => current_end_date(&members, found),
        };
        planned.push((
            found.clone(),
            "update",
            role,
            ends_on,
            Some(current.clone()),
        ));
    }
    for (index, who) in batch.remove.iter().enumerate() {
        let Some((found, current)) = member_of(&people, &members, who) else {
            problem(
                "remove",
                index,
                field_of(who),
                "This person is not a member.",
            );
            continue;
        };
        if !seen.insert(found.key()) {
            problem(
                "remove",
                index,
                field_of(who),
                "This person is named twice in the batch.",
            );
            continue;
        }
        if !grantable.contains(&current.role) {
            problem("remove", index, "role", NOT_GRANTABLE);
            continue;
        }
        planned.push((
            found.clone(),
            "remove",
            current.role,
            None,
            Some(current.clone()),
        ));
    }
    if !problems.is_empty() {
        return Err(BatchError::Invalid(problems));
    }
    write_batch(ctx, actor, organisation, expected_version, planned).await
}

fn member_of<'p>(
    people: &'p People,
    members: &'p HashMap<String, CurrentMembership>,
    who: &MemberRef,
) -> Option<(&'p Found, &'p CurrentMembership)> {
    let found = people.find(who)?;
    let Found::Portal(person) = found else {
        return None;
    };
    members.get(&person.id).map(|current| (found, current))
}

fn current_end_date(members: &HashMap<String, CurrentMembership>, found: &Found) -> Option<String> {
    match found {
        Found::Portal(person) => members.get(&person.id).and_then(|m| m.ends_on.clone()),
        Found::Directory(..) => None,
    }
}

type Planned = (
    Found,
    &'static str,
    Role,
    Option<String>,
    Option<CurrentMembership>,
);

async fn write_batch(
    ctx: &AppContext,
    actor: OrgActor<'_>,
    organisation: &Organisation,
    expected_version: i64,
    planned: Vec<Planned>,
) -> Result<BatchOutcome, BatchError> {
    let details: Vec<String> = planned
        .iter()
        .map(|(found, op, role, ends_on, _)| match *op {
            "add" => format!("added {} as {}", found.describe(), role.as_str()),
            "update" => format!(
                "set {}'s role to {} and end date to {}",
                found.describe(),
                role.as_str(),
                ends_on.as_deref().unwrap_or("none")
            ),
            _ => format!("removed {}", found.describe()),
        })
        .collect();
    let steps: Vec<BatchStep<'_>> = planned
        .iter()
        .zip(&details)
        .map(|((found, op, role, ends_on, current), details)| {
            let op = match (found, *op, current) {
                (Found::Directory(person, email), _, _) => BatchOp::LinkAndAdd {
                    person: DirectoryPersonRef {
                        dn: &person.dn,
                        uid: &person.uid,
                        email,
                        surname: &person.surname,
                        given_name: person.given_name.as_deref(),
                    },
                    role: *role,
                    ends_on: ends_on.clone(),
                },
                (Found::Portal(person), "add", _) => BatchOp::Add {
                    person_id: &person.id,
                    role: *role,
                    ends_on: ends_on.clone(),
                },
                (_, "update", Some(current)) => BatchOp::Update {
                    membership_id: &current.membership_id,
                    role: *role,
                    ends_on: ends_on.clone(),
                },
                (_, _, Some(current)) => BatchOp::Remove {
                    membership_id: &current.membership_id,
                },
                (Found::Portal(person), _, None) => BatchOp::Add {
                    person_id: &person.id,
                    role: *role,
                    ends_on: ends_on.clone(),
                },
            };
            let subject_id = match found {
                Found::Portal(person) => Some(person.id.as_str()),
                Found::Directory(..) => None,
            };
            let action = match op {
                BatchOp::LinkAndAdd { .. } | BatchOp::Add { .. } => "member.added",
                BatchOp::Update { .. } => "member.changed",
                BatchOp::Remove { .. } => "member.removed",
            };
            BatchStep {
                op,
                event: AuditEvent {
                    actor_id: actor.actor.audit_id(),
                    action,
                    subject_id,
                    client_ip: actor.client_ip,
                    details: details.clone(),
                    ..AuditEvent::default()
                },
            }
        })
        .collect();
    let counts = ["add", "update", "remove"].map(|op| {
        planned
            .iter()
            .filter(|(_, planned_op, ..)| *planned_op == op)
            .count()
    });
    let summary = AuditEvent {
        actor_id: actor.actor.audit_id(),
        action: "members.batch",
        client_ip: actor.client_ip,
        details: format!(
            "changed members in one batch: {} added, {} updated, {} removed",
            counts[0], counts[1], counts[2]
        ),
        ..AuditEvent::default()
    };
    let applied = ctx
        .store
        .apply_member_batch(
            &organisation.id,
            expected_version,
            steps,
            summary,
            ctx.clock.now(),
        )
        .await?
        .ok_or(BatchError::Stale)?;
    crate::jobs::apply(ctx, applied.receipt).await;
    let changes = planned
        .iter()
        .zip(applied.person_ids)
        .map(|((found, op, role, ends_on, _), new_id)| {
            let (person_id, username, email) = match found {
                Found::Portal(person) => (
                    person.id.clone(),
                    person.username.clone(),
                    person.email.clone(),
                ),
                Found::Directory(person, email) => (
                    new_id.unwrap_or_default(),
                    Some(person.uid.clone()),
                    email.to_string(),
                ),
            };
            BatchChange {
                op,
                person_id,
                username,
                email,
                role: (*op != "remove").then_some(*role),
                ends_on: ends_on.clone(),
            }
        })
        .collect();
    Ok(BatchOutcome {
        version: applied.version,
        changes,
    })
}
