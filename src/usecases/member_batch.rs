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
    let check = Checker {
        people: &people,
        members: ctx.store.memberships_by_person(&organisation.id).await?,
        grantable: actor.grantable_roles(),
        seen: HashSet::new(),
    };
    let planned = check.all(&batch)?;
    write_batch(ctx, actor, organisation, expected_version, planned).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Add,
    Update,
    Remove,
}

impl ChangeKind {
    /// The list the item came in, and the `op` of the change reported.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Add => "add",
            ChangeKind::Update => "update",
            ChangeKind::Remove => "remove",
        }
    }
}

/// One item, checked: who, what, and their membership now (for updates and removals).
struct Planned {
    found: Found,
    kind: ChangeKind,
    role: Role,
    ends_on: Option<String>,
    current: Option<CurrentMembership>,
}

/// A refused item: the field to point at and what to tell the caller.
type Refusal = (&'static str, &'static str);

const NOT_FOUND: &str = "Nobody with this is in the portal or the directory; invite them instead.";
const NAMED_TWICE: &str = "This person is named twice in the batch.";
const NOT_A_MEMBER: &str = "This person is not a member.";
const ALREADY_A_MEMBER: &str = "This person is already a member.";
const NOT_GRANTABLE: &str =
    "Only the organisation's owner can change or hand out the roles owner and manager.";

/// The rules every item must pass, whichever door the batch came through.
struct Checker<'p> {
    people: &'p People,
    members: HashMap<String, CurrentMembership>,
    grantable: Vec<Role>,
    /// People already named by an earlier item.
    seen: HashSet<String>,
}

impl Checker<'_> {
    fn all(mut self, batch: &MemberBatch) -> Result<Vec<Planned>, BatchError> {
        let mut planned = Vec::new();
        let mut problems = Vec::new();
        let mut record = |kind: ChangeKind, index, checked: Result<Planned, Refusal>| match checked
        {
            Ok(item) => planned.push(item),
            Err((field, message)) => problems.push(ItemProblem {
                list: kind.as_str(),
                index,
                field,
                message: message.into(),
            }),
        };
        for (index, item) in batch.add.iter().enumerate() {
            record(ChangeKind::Add, index, self.add(item));
        }
        for (index, item) in batch.update.iter().enumerate() {
            record(ChangeKind::Update, index, self.update(item));
        }
        for (index, who) in batch.remove.iter().enumerate() {
            record(ChangeKind::Remove, index, self.remove(who));
        }
        if problems.is_empty() {
            Ok(planned)
        } else {
            Err(BatchError::Invalid(problems))
        }
    }

    /// The person `who` names, named for the first time in this batch.
    fn once(&mut self, who: &MemberRef, found: &Found) -> Result<(), Refusal> {
        if self.seen.insert(found.key()) {
            Ok(())
        } else {
            Err((field_of(who), NAMED_TWICE))
        }
    }

    fn add(&mut self, item: &AddItem) -> Result<Planned, Refusal> {
        let people = self.people;
        let found = people
            .find(&item.who)
            .ok_or((field_of(&item.who), NOT_FOUND))?;
        self.once(&item.who, found)?;
        if let Found::Portal(person) = found
            && self.members.contains_key(&person.id)
        {
            return Err((field_of(&item.who), ALREADY_A_MEMBER));
        }
        if !self.grantable.contains(&item.role) {
            return Err(("role", NOT_GRANTABLE));
        }
        Ok(Planned {
            found: found.clone(),
            kind: ChangeKind::Add,
            role: item.role,
            ends_on: item.ends_on.map(EndDate::to_iso),
            current: None,
        })
    }

    /// The member `who` names, and their membership now.
    fn member(&mut self, who: &MemberRef) -> Result<(Found, CurrentMembership), Refusal> {
        let people = self.people;
        let (found, current) = match people.find(who) {
            Some(found @ Found::Portal(person)) => self
                .members
                .get(&person.id)
                .map(|current| (found.clone(), current.clone())),
            _ => None,
        }
        .ok_or((field_of(who), NOT_A_MEMBER))?;
        self.once(who, &found)?;
        if !self.grantable.contains(&current.role) {
            return Err(("role", NOT_GRANTABLE));
        }
        Ok((found, current))
    }

    fn update(&mut self, item: &UpdateItem) -> Result<Planned, Refusal> {
        let (found, current) = self.member(&item.who)?;
        let role = item.role.unwrap_or(current.role);
        if !self.grantable.contains(&role) {
            return Err(("role", NOT_GRANTABLE));
        }
        let ends_on = match item.ends_on {
            Some(ends_on) => ends_on.map(EndDate::to_iso),
            None => current.ends_on.clone(),
        };
        Ok(Planned {
            found,
            kind: ChangeKind::Update,
            role,
            ends_on,
            current: Some(current),
        })
    }

    fn remove(&mut self, who: &MemberRef) -> Result<Planned, Refusal> {
        let (found, current) = self.member(who)?;
        Ok(Planned {
            found,
            kind: ChangeKind::Remove,
            role: current.role,
            ends_on: None,
            current: Some(current),
        })
    }
}

impl Planned {
    fn details(&self) -> String {
        let who = self.found.describe();
        match self.kind {
            ChangeKind::Add => format!("added {who} as {}", self.role.as_str()),
            ChangeKind::Update => format!(
                "set {who}'s role to {} and end date to {}",
                self.role.as_str(),
                self.ends_on.as_deref().unwrap_or("none")
            ),
            ChangeKind::Remove => format!("removed {who}"),
        }
    }

    fn step<'a>(&'a self, actor: OrgActor<'a>, details: &'a str) -> BatchStep<'a> {
        let (op, action, subject_id) = match (&self.found, &self.current) {
            (Found::Directory(person, email), _) => (
                BatchOp::LinkAndAdd {
                    person: DirectoryPersonRef {
                        dn: &person.dn,
                        uid: &person.uid,
                        email,
                        surname: &person.surname,
                        given_name: person.given_name.as_deref(),
                    },
                    role: self.role,
                    ends_on: self.ends_on.clone(),
                },
                "member.added",
                None,
            ),
            (Found::Portal(person), None) => (
                BatchOp::Add {
                    person_id: &person.id,
                    role: self.role,
                    ends_on: self.ends_on.clone(),
                },
                "member.added",
                Some(person.id.as_str()),
            ),
            (Found::Portal(person), Some(current)) if self.kind == ChangeKind::Update => (
                BatchOp::Update {
                    membership_id: &current.membership_id,
                    role: self.role,
                    ends_on: self.ends_on.clone(),
                },
                "member.changed",
                Some(person.id.as_str()),
            ),
            (Found::Portal(person), Some(current)) => (
                BatchOp::Remove {
                    membership_id: &current.membership_id,
                },
                "member.removed",
                Some(person.id.as_str()),
            ),
        };
        BatchStep {
            op,
            event: AuditEvent {
                actor_id: actor.actor.audit_id(),
                action,
                subject_id,
                client_ip: actor.client_ip,
                details: details.to_string(),
                ..AuditEvent::default()
            },
        }
    }

    /// The change as the API reports it; `new_person_id` for someone just linked.
    fn reported(&self, new_person_id: Option<String>) -> BatchChange {
        let (person_id, username, email) = match &self.found {
            Found::Portal(person) => (
                person.id.clone(),
                person.username.clone(),
                person.email.clone(),
            ),
            Found::Directory(person, email) => (
                new_person_id.unwrap_or_default(),
                Some(person.uid.clone()),
                email.to_string(),
            ),
        };
        BatchChange {
            op: self.kind.as_str(),
            person_id,
            username,
            email,
            role: (self.kind != ChangeKind::Remove).then_some(self.role),
            ends_on: self.ends_on.clone(),
        }
    }
}

async fn write_batch(
    ctx: &AppContext,
    actor: OrgActor<'_>,
    organisation: &Organisation,
    expected_version: i64,
    planned: Vec<Planned>,
) -> Result<BatchOutcome, BatchError> {
    let details: Vec<String> = planned.iter().map(Planned::details).collect();
    let steps: Vec<BatchStep<'_>> = planned
        .iter()
        .zip(&details)
        .map(|(item, details)| item.step(actor, details))
        .collect();
    let count = |kind| planned.iter().filter(|item| item.kind == kind).count();
    let summary = AuditEvent {
        actor_id: actor.actor.audit_id(),
        action: "members.batch",
        client_ip: actor.client_ip,
        details: format!(
            "changed members in one batch: {} added, {} updated, {} removed",
            count(ChangeKind::Add),
            count(ChangeKind::Update),
            count(ChangeKind::Remove)
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
        .map(|(item, new_person_id)| item.reported(new_person_id))
        .collect();
    Ok(BatchOutcome {
        version: applied.version,
        changes,
    })
}
