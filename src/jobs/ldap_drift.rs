//! Drift between LDAP and the portal, site-wide: every account, organisation group and
//! resource group whose entry differs from what the portal expects, and every entry under
//! Roster's containers that the portal does not know.
//!
//! Memory stays bounded by a page: the containers are read with paged searches, each page
//! compared with the portal rows for its names (read in one batch), and missing entries
//! are found by a second pass over the portal's expected names in sorted batches, each
//! checked in LDAP with one search. Only the differences are kept.

use std::collections::{BTreeSet, HashMap};

use crate::context::AppContext;
use crate::directory::{AccountState, Container, DirectoryError, LiveEntry, ScannedEntry};
use crate::store::StoreError;
use crate::store::organisations::Organisation;
use crate::store::people::Person;

/// Names the missing-entry pass checks per LDAP search.
const NAMES_PER_CHECK: i64 = 200;

/// What an item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    Account,
    Group,
    Resource,
    Unknown,
}

impl Subject {
    pub const ALL: [Subject; 4] = [
        Subject::Account,
        Subject::Group,
        Subject::Resource,
        Subject::Unknown,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Subject::Account => "account",
            Subject::Group => "group",
            Subject::Resource => "resource",
            Subject::Unknown => "unknown",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|subject| subject.as_str() == value)
    }

    pub const fn label(self) -> &'static str {
        match self {
            Subject::Account => "Account",
            Subject::Group => "Organisation group",
            Subject::Resource => "Resource group",
            Subject::Unknown => "Unknown entry",
        }
    }
}

/// One attribute that differs, as people may read it (never a password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDifference {
    pub attribute: String,
    pub expected: String,
    pub actual: String,
}

impl AttributeDifference {
    pub fn describe(&self) -> String {
        if self.attribute == "userPassword" {
            return "userPassword differs".into();
        }
        format!(
            "{} is {}, expected {}",
            self.attribute, self.actual, self.expected
        )
    }
}

/// How one entry differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The portal expects the entry; LDAP does not have it.
    Missing,
    Attributes(Vec<AttributeDifference>),
    /// A group's members (and number) differ.
    Members {
        missing: Vec<String>,
        extra: Vec<String>,
        /// (expected, actual) when the gidNumber differs.
        gid_number: Option<(String, String)>,
    },
    /// Under Roster's containers, but the portal does not know it.
    Unknown,
}

/// One difference. `name` is the username, short name or group name (the DN of an
/// unknown entry); `id` is the portal row's id (the DN of an unknown entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftItem {
    pub subject: Subject,
    pub id: String,
    pub name: String,
    pub problem: Problem,
}

impl DriftItem {
    /// What differs, in one sentence.
    pub fn difference(&self) -> String {
        match &self.problem {
            Problem::Missing => "missing from LDAP".into(),
            Problem::Unknown => "not known to Roster".into(),
            Problem::Attributes(differences) => differences
                .iter()
                .map(AttributeDifference::describe)
                .collect::<Vec<_>>()
                .join("; "),
            Problem::Members {
                missing,
                extra,
                gid_number,
            } => {
                let mut parts = Vec::new();
                if let Some((expected, actual)) = gid_number {
                    parts.push(format!("gidNumber is {actual}, expected {expected}"));
                }
                if !missing.is_empty() {
                    parts.push(format!("memberUid lacks {}", missing.join(", ")));
                }
                if !extra.is_empty() {
                    parts.push(format!("memberUid has extra {}", extra.join(", ")));
                }
                parts.join("; ")
            }
        }
    }

    /// One line, for the log and the command line.
    pub fn describe(&self) -> String {
        format!(
            "{} {}: {}",
            self.subject.as_str(),
            self.name,
            self.difference()
        )
    }
}

/// Counts by kind of difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriftCounts {
    pub missing: usize,
    pub attributes: usize,
    pub members: usize,
    pub unknown: usize,
}

/// The report: the differences, and how many entries were read under the containers.
#[derive(Debug, Clone, Default)]
pub struct DriftReport {
    pub entries: usize,
    pub items: Vec<DriftItem>,
}

impl DriftReport {
    pub fn counts(&self) -> DriftCounts {
        let mut counts = DriftCounts::default();
        for item in &self.items {
            match item.problem {
                Problem::Missing => counts.missing += 1,
                Problem::Attributes(_) => counts.attributes += 1,
                Problem::Members { .. } => counts.members += 1,
                Problem::Unknown => counts.unknown += 1,
            }
        }
        counts
    }

    /// The entries a full repair would weigh against: those there now, and the missing
    /// ones it would make.
    pub fn weighed_entries(&self) -> usize {
        self.entries + self.counts().missing
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The whole site's report.
pub async fn report(ctx: &AppContext) -> Result<DriftReport, DriftError> {
    let mut report = DriftReport::default();
    for container in ctx.directory.containers() {
        let (sender, mut pages) = tokio::sync::mpsc::channel::<Vec<ScannedEntry>>(1);
        let directory = ctx.directory.clone();
        let reader = tokio::spawn(async move { directory.scan_container(container, sender).await });
        while let Some(page) = pages.recv().await {
            report.entries += page.len();
            match container {
                Container::People => compare_people(ctx, &page, &mut report.items).await?,
                Container::Groups | Container::Resources => {
                    compare_groups(ctx, container, &page, &mut report.items).await?;
                }
            }
        }
        match reader.await {
            Ok(result) => {
                result?;
            }
            Err(error) => {
                return Err(DirectoryError::Operation(format!(
                    "the directory reader stopped: {error}"
                ))
                .into());
            }
        }
    }
    find_missing(ctx, &mut report.items).await?;
    report.items = merged(report.items);
    Ok(report)
}

/// The report limited to one organisation: its group, its current members' accounts
/// and its resources' groups. `entries` counts the entries under Roster's containers.
pub async fn report_for(
    ctx: &AppContext,
    organisation: &Organisation,
) -> Result<DriftReport, DriftError> {
    let mut items = Vec::new();
    let mut subjects = vec![(Subject::Group, organisation.short_name.clone())];
    for username in ctx
        .store
        .member_uids(&organisation.id, &ctx.clock.today_iso())
        .await?
    {
        subjects.push((Subject::Account, username));
    }
    for resource in ctx.store.resources_of(&organisation.id).await? {
        if !resource.group_deleted {
            subjects.push((Subject::Resource, resource.group_name));
        }
    }
    for (subject, name) in subjects {
        items.extend(check(ctx, subject, &name).await?);
    }
    let mut entries = 0;
    for container in ctx.directory.containers() {
        entries += ctx.directory.count_entries(container).await?;
    }
    Ok(DriftReport { entries, items })
}

/// How the subject named `name` differs now, if it does: the one item a repair acts on,
/// read afresh (a repair never trusts a page read earlier).
pub async fn check(
    ctx: &AppContext,
    subject: Subject,
    name: &str,
) -> Result<Option<DriftItem>, DriftError> {
    let names = [name.to_string()];
    match subject {
        Subject::Account => {
            let Some(person) = ctx.store.people_by_usernames(&names).await?.pop() else {
                return Ok(None);
            };
            let keys = key_texts(ctx.store.keys_of(&person.id).await?);
            let Some(state) = super::account_state(ctx, &person, keys) else {
                return Ok(None);
            };
            let Some(live) = ctx.directory.account_entry(&state.username).await? else {
                return Ok(Some(account_item(&person, &state, Problem::Missing)));
            };
            let mut differences = account_differences(&state, &live);
            let group = ctx
                .directory
                .group_entry(Container::Groups, &state.username)
                .await?;
            differences.extend(private_group_differences(&state, group.as_ref()));
            Ok((!differences.is_empty())
                .then(|| account_item(&person, &state, Problem::Attributes(differences))))
        }
        Subject::Group => {
            let Some(organisation) = ctx.store.organisations_by_short_names(&names).await?.pop()
            else {
                return Ok(None);
            };
            let live = ctx
                .directory
                .group_entry(Container::Groups, &organisation.short_name)
                .await?;
            let members = ctx
                .store
                .member_uids(&organisation.id, &ctx.clock.today_iso())
                .await?;
            Ok(group_item(
                Subject::Group,
                &organisation.id,
                &organisation.short_name,
                organisation.gid_number,
                &members,
                live.as_ref(),
            ))
        }
        Subject::Resource => {
            let Some(resource) = ctx.store.resources_by_group_names(&names).await?.pop() else {
                return Ok(None);
            };
            if resource.group_deleted {
                return Ok(None);
            }
            let live = ctx
                .directory
                .group_entry(resources_container(ctx), &resource.group_name)
                .await?;
            let members = ctx
                .store
                .resource_member_uids(&resource.id, &ctx.clock.today_iso())
                .await?;
            Ok(group_item(
                Subject::Resource,
                &resource.id,
                &resource.group_name,
                resource.gid_number,
                &members,
                live.as_ref(),
            ))
        }
        Subject::Unknown => {
            let Some(entry) = ctx.directory.scanned_entry(name).await? else {
                return Ok(None);
            };
            if is_known(ctx, &entry).await? {
                return Ok(None);
            }
            Ok(Some(unknown_item(&entry)))
        }
    }
}

/// Whether the portal knows this entry: a person's uid is a (not deleted) person's
/// username; a group's cn is an organisation, a resource group or a person's private group.
async fn is_known(ctx: &AppContext, entry: &ScannedEntry) -> Result<bool, StoreError> {
    let Some(name) = &entry.name else {
        return Ok(false);
    };
    let names = [name.clone()];
    if !ctx.store.people_by_usernames(&names).await?.is_empty() {
        return Ok(true);
    }
    if entry.container == Container::People {
        return Ok(false);
    }
    Ok(!ctx
        .store
        .organisations_by_short_names(&names)
        .await?
        .is_empty()
        || !ctx.store.resources_by_group_names(&names).await?.is_empty())
}

fn resources_container(ctx: &AppContext) -> Container {
    if ctx.directory.containers().contains(&Container::Resources) {
        Container::Resources
    } else {
        Container::Groups
    }
}

fn key_texts(keys: Vec<crate::store::ssh_keys::StoredKey>) -> Vec<String> {
    keys.into_iter().map(|key| key.openssh).collect()
}

fn names_of(page: &[ScannedEntry]) -> Vec<String> {
    let names: BTreeSet<String> = page.iter().filter_map(|entry| entry.name.clone()).collect();
    names.into_iter().collect()
}

fn unknown_item(entry: &ScannedEntry) -> DriftItem {
    DriftItem {
        subject: Subject::Unknown,
        id: entry.dn.clone(),
        name: entry.dn.clone(),
        problem: Problem::Unknown,
    }
}

fn account_item(person: &Person, state: &AccountState, problem: Problem) -> DriftItem {
    DriftItem {
        subject: Subject::Account,
        id: person.id.clone(),
        name: state.username.clone(),
        problem,
    }
}

/// Compares a page of person entries with the people who have those usernames.
async fn compare_people(
    ctx: &AppContext,
    page: &[ScannedEntry],
    items: &mut Vec<DriftItem>,
) -> Result<(), StoreError> {
    let people: HashMap<String, Person> = ctx
        .store
        .people_by_usernames(&names_of(page))
        .await?
        .into_iter()
        .filter_map(|person| Some((person.username.clone()?, person)))
        .collect();
    let managed: Vec<String> = people
        .values()
        .filter(|person| person.uid_number.is_some())
        .map(|person| person.id.clone())
        .collect();
    let mut keys = ctx.store.keys_of_people(&managed).await?;
    for entry in page {
        let Some(person) = entry.name.as_ref().and_then(|name| people.get(name)) else {
            items.push(unknown_item(entry));
            continue;
        };
        let held = keys.remove(&person.id).unwrap_or_default();
        // Linked directory people: known, but their entries are not the portal's to write.
        let Some(state) = super::account_state(ctx, person, held) else {
            continue;
        };
        // A copy elsewhere in the subtree is known, but not the entry the portal writes.
        if !entry
            .dn
            .eq_ignore_ascii_case(&ctx.directory.person_dn(&state.username))
        {
            continue;
        }
        let differences = account_differences(&state, &entry.attributes);
        if !differences.is_empty() {
            items.push(account_item(
                person,
                &state,
                Problem::Attributes(differences),
            ));
        }
    }
    Ok(())
}

/// Compares a page of groups with the organisations, resources and private groups of
/// those names.
async fn compare_groups(
    ctx: &AppContext,
    container: Container,
    page: &[ScannedEntry],
    items: &mut Vec<DriftItem>,
) -> Result<(), StoreError> {
    let names = names_of(page);
    let today = ctx.clock.today_iso();
    let organisations: HashMap<String, Organisation> = ctx
        .store
        .organisations_by_short_names(&names)
        .await?
        .into_iter()
        .map(|organisation| (organisation.short_name.clone(), organisation))
        .collect();
    let resources: HashMap<String, crate::store::resources::Resource> = ctx
        .store
        .resources_by_group_names(&names)
        .await?
        .into_iter()
        .map(|resource| (resource.group_name.clone(), resource))
        .collect();
    let people: HashMap<String, Person> = ctx
        .store
        .people_by_usernames(&names)
        .await?
        .into_iter()
        .filter_map(|person| Some((person.username.clone()?, person)))
        .collect();
    let organisation_ids: Vec<String> = organisations.values().map(|o| o.id.clone()).collect();
    let mut members = if container == Container::Groups {
        ctx.store.member_uids_of(&organisation_ids, &today).await?
    } else {
        HashMap::new()
    };
    let resource_place = resources_container(ctx);
    let resource_ids: Vec<String> = if container == resource_place {
        resources
            .values()
            .filter(|resource| !resource.group_deleted)
            .map(|resource| resource.id.clone())
            .collect()
    } else {
        Vec::new()
    };
    let mut resource_members = ctx
        .store
        .resource_member_uids_of(&resource_ids, &today)
        .await?;
    for entry in page {
        let Some(name) = &entry.name else {
            items.push(unknown_item(entry));
            continue;
        };
        if let Some(organisation) = organisations.get(name) {
            if container == Container::Groups {
                let wanted = members.remove(&organisation.id).unwrap_or_default();
                items.extend(group_item(
                    Subject::Group,
                    &organisation.id,
                    name,
                    organisation.gid_number,
                    &wanted,
                    Some(&entry.attributes),
                ));
            }
        } else if let Some(resource) = resources.get(name) {
            if container == resource_place && !resource.group_deleted {
                let wanted = resource_members.remove(&resource.id).unwrap_or_default();
                items.extend(group_item(
                    Subject::Resource,
                    &resource.id,
                    name,
                    resource.gid_number,
                    &wanted,
                    Some(&entry.attributes),
                ));
            }
        } else if let Some(person) = people.get(name) {
            if container == Container::Groups
                && let Some(state) = super::account_state(ctx, person, Vec::new())
            {
                let differences = private_group_differences(&state, Some(&entry.attributes));
                if !differences.is_empty() {
                    items.push(account_item(
                        person,
                        &state,
                        Problem::Attributes(differences),
                    ));
                }
            }
        } else {
            items.push(unknown_item(entry));
        }
    }
    Ok(())
}

/// The second pass: every name the portal expects, in sorted batches, checked in LDAP.
async fn find_missing(ctx: &AppContext, items: &mut Vec<DriftItem>) -> Result<(), DriftError> {
    let mut after = String::new();
    loop {
        let batch = ctx
            .store
            .managed_accounts_after(&after, NAMES_PER_CHECK)
            .await?;
        let Some((_, last)) = batch.last() else {
            break;
        };
        after.clone_from(last);
        let names: Vec<String> = batch.iter().map(|(_, name)| name.clone()).collect();
        let entries = ctx
            .directory
            .names_present(Container::People, &names)
            .await?;
        let groups = ctx
            .directory
            .names_present(Container::Groups, &names)
            .await?;
        for (id, name) in batch {
            let problem = if !entries.contains(&name) {
                Problem::Missing
            } else if !groups.contains(&name) {
                Problem::Attributes(vec![missing_private_group(&name)])
            } else {
                continue;
            };
            items.push(DriftItem {
                subject: Subject::Account,
                id,
                name,
                problem,
            });
        }
    }
    for (subject, container) in [
        (Subject::Group, Container::Groups),
        (Subject::Resource, resources_container(ctx)),
    ] {
        let mut after = String::new();
        loop {
            let batch = match subject {
                Subject::Group => {
                    ctx.store
                        .organisation_groups_after(&after, NAMES_PER_CHECK)
                        .await?
                }
                _ => {
                    ctx.store
                        .resource_groups_after(&after, NAMES_PER_CHECK)
                        .await?
                }
            };
            let Some((_, last)) = batch.last() else {
                break;
            };
            after.clone_from(last);
            let names: Vec<String> = batch.iter().map(|(_, name)| name.clone()).collect();
            let present = ctx.directory.names_present(container, &names).await?;
            for (id, name) in batch {
                if !present.contains(&name) {
                    items.push(DriftItem {
                        subject,
                        id,
                        name,
                        problem: Problem::Missing,
                    });
                }
            }
        }
    }
    Ok(())
}

/// One item per subject, sorted: an account's entry and its private group were compared
/// on different pages.
fn merged(mut items: Vec<DriftItem>) -> Vec<DriftItem> {
    items.sort_by(|a, b| (a.subject, &a.name).cmp(&(b.subject, &b.name)));
    let mut out: Vec<DriftItem> = Vec::with_capacity(items.len());
    for item in items {
        if let Some(last) = out.last_mut()
            && last.subject == item.subject
            && last.id == item.id
        {
            match (&mut last.problem, item.problem) {
                (Problem::Attributes(mine), Problem::Attributes(theirs)) => mine.extend(theirs),
                // Missing says it all.
                (Problem::Missing, _) => {}
                (_, other) => last.problem = other,
            }
            continue;
        }
        out.push(item);
    }
    out
}

fn missing_private_group(username: &str) -> AttributeDifference {
    AttributeDifference {
        attribute: "private group".into(),
        expected: format!("cn={username}"),
        actual: "missing".into(),
    }
}

/// Values of `attribute` (any case of its name), sorted.
fn held(live: &LiveEntry, attribute: &str) -> Vec<String> {
    let mut values: Vec<String> = live
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .map(|(_, values)| values.clone())
        .unwrap_or_default();
    values.sort();
    values
}

/// Every attribute the portal owns that the entry holds otherwise (as sets of values).
pub fn account_differences(state: &AccountState, live: &LiveEntry) -> Vec<AttributeDifference> {
    let mut differences = Vec::new();
    for (attribute, mut expected) in state.owned_attributes() {
        expected.sort();
        let actual = held(live, attribute);
        if actual == expected {
            continue;
        }
        let show = |values: &[String]| -> String {
            match attribute {
                // Only that it differs: hashes are never shown.
                "userPassword" if values.is_empty() => "absent".into(),
                "userPassword" => "set".into(),
                "sshPublicKey" => format!("{} key(s)", values.len()),
                _ if values.is_empty() => "absent".into(),
                _ => values.join(", "),
            }
        };
        differences.push(AttributeDifference {
            attribute: attribute.to_string(),
            expected: show(&expected),
            actual: show(&actual),
        });
    }
    differences
}

fn private_group_differences(
    state: &AccountState,
    group: Option<&LiveEntry>,
) -> Vec<AttributeDifference> {
    let Some(group) = group else {
        return vec![missing_private_group(&state.username)];
    };
    let expected = vec![state.gid_number.to_string()];
    let actual = held(group, "gidNumber");
    if actual == expected {
        return Vec::new();
    }
    vec![AttributeDifference {
        attribute: "gidNumber of the private group".into(),
        expected: state.gid_number.to_string(),
        actual: if actual.is_empty() {
            "absent".into()
        } else {
            actual.join(", ")
        },
    }]
}

/// The item for a group that should hold `members` and `gid_number`, if it differs.
fn group_item(
    subject: Subject,
    id: &str,
    name: &str,
    gid_number: i64,
    members: &[String],
    live: Option<&LiveEntry>,
) -> Option<DriftItem> {
    let item = |problem| DriftItem {
        subject,
        id: id.to_string(),
        name: name.to_string(),
        problem,
    };
    let Some(live) = live else {
        return Some(item(Problem::Missing));
    };
    let wanted: BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let present = held(live, "memberUid");
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    let missing: Vec<String> = wanted.difference(&present).map(|s| s.to_string()).collect();
    let extra: Vec<String> = present.difference(&wanted).map(|s| s.to_string()).collect();
    let actual_gid = held(live, "gidNumber");
    let gid_number = (actual_gid != vec![gid_number.to_string()]).then(|| {
        (
            gid_number.to_string(),
            if actual_gid.is_empty() {
                "absent".to_string()
            } else {
                actual_gid.join(", ")
            },
        )
    });
    if missing.is_empty() && extra.is_empty() && gid_number.is_none() {
        return None;
    }
    Some(item(Problem::Members {
        missing,
        extra,
        gid_number,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(subject: Subject, id: &str, problem: Problem) -> DriftItem {
        DriftItem {
            subject,
            id: id.into(),
            name: id.into(),
            problem,
        }
    }

    #[test]
    fn an_accounts_entry_and_private_group_make_one_item() {
        let shell = AttributeDifference {
            attribute: "loginShell".into(),
            expected: "/bin/bash".into(),
            actual: "/bin/zsh".into(),
        };
        let merged = merged(vec![
            item(Subject::Unknown, "uid=x", Problem::Unknown),
            item(
                Subject::Account,
                "ada",
                Problem::Attributes(vec![missing_private_group("ada")]),
            ),
            item(
                Subject::Account,
                "ada",
                Problem::Attributes(vec![shell.clone()]),
            ),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(
            merged[0].problem,
            Problem::Attributes(vec![missing_private_group("ada"), shell])
        );
        assert_eq!(merged[1].subject, Subject::Unknown);
    }

    #[test]
    fn a_password_difference_never_shows_the_hash() {
        let difference = AttributeDifference {
            attribute: "userPassword".into(),
            expected: "set".into(),
            actual: "set".into(),
        };
        assert_eq!(difference.describe(), "userPassword differs");
    }

    #[test]
    fn a_group_differs_in_members_and_number() {
        let live: LiveEntry = [
            ("gidNumber".to_string(), vec!["5".to_string()]),
            (
                "memberUid".to_string(),
                vec!["ada".to_string(), "eve".to_string()],
            ),
        ]
        .into_iter()
        .collect();
        let found = group_item(
            Subject::Group,
            "id",
            "lab",
            6,
            &["ada".into(), "bob".into()],
            Some(&live),
        );
        assert_eq!(
            found.map(|item| item.difference()).as_deref(),
            Some("gidNumber is 5, expected 6; memberUid lacks bob; memberUid has extra eve")
        );
        let same: LiveEntry = [
            ("gidNumber".to_string(), vec!["6".to_string()]),
            ("memberUid".to_string(), vec!["ada".to_string()]),
        ]
        .into_iter()
        .collect();
        assert!(group_item(Subject::Group, "id", "lab", 6, &["ada".into()], Some(&same)).is_none());
    }
}
