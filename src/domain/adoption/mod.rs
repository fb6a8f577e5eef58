//! Adopting an existing directory: which people and groups become linked accounts and
//! organisations, and which are conflicts a person must resolve first. Pure: the caller
//! reads the directory and the portal, this decides.

mod plan_file;

use std::collections::{BTreeMap, HashMap, HashSet};

pub use plan_file::{PlanFileError, PlanSource, read_plan, write_plan};

use super::{Email, ExistingUsername, ShortName};

/// A posixAccount under the people base, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingPerson {
    pub dn: String,
    pub uid: String,
    /// `None` when missing or not a number.
    pub uid_number: Option<i64>,
    pub gid_number: Option<i64>,
    pub surname: String,
    pub given_name: Option<String>,
    /// Every `mail` value.
    pub mail: Vec<String>,
}

/// A posixGroup under the groups base, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingGroup {
    pub dn: String,
    pub cn: String,
    pub gid_number: Option<i64>,
    pub member_uids: Vec<String>,
    /// The owner attribute's value: a username or a person's DN (see [`owner_username`]).
    pub owner: Option<String>,
    pub description: Option<String>,
}

/// An owner attribute names a person by DN (`uid=ada,ou=people,…`) or by username.
pub fn owner_username(value: &str) -> String {
    let value = value.trim();
    let first_rdn = value.split(',').next().unwrap_or_default();
    match first_rdn.split_once('=') {
        Some((attribute, name)) if attribute.trim().eq_ignore_ascii_case("uid") => {
            name.trim().to_string()
        }
        _ => value.to_string(),
    }
}

/// Reads `--owners`: lines of `group,owner_username` (a header line naming `group` and
/// `#` comments allowed). An error names the line.
pub fn read_owners(bytes: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(bytes);
    let mut owners = HashMap::new();
    for (index, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|record| record.position())
            .map_or(index + 1, |position| {
                usize::try_from(position.line()).unwrap_or(index + 1)
            });
        let record = record.map_err(|error| format!("line {line}: {error}"))?;
        let (Some(group), Some(owner)) = (record.get(0), record.get(1)) else {
            return Err(format!("line {line}: expected group,owner_username"));
        };
        if index == 0 && group.eq_ignore_ascii_case("group") {
            continue;
        }
        if group.is_empty() || owner.is_empty() || record.len() > 2 {
            return Err(format!("line {line}: expected group,owner_username"));
        }
        owners.insert(group.to_string(), owner_username(owner));
    }
    Ok(owners)
}

/// What the portal already holds that an adoption must respect.
#[derive(Debug, Default)]
pub struct PortalFacts {
    /// Portal people by username: id, LDAP DN, normalised email, and whether adopted.
    pub people: HashMap<String, KnownPerson>,
    /// Normalised email → username (or id, when the person has none) of its holder.
    pub emails: HashMap<String, String>,
    /// uidNumber → the username (or id) Roster gave it to.
    pub uid_claims: HashMap<i64, String>,
    /// gidNumber → who holds it, and whether that holder came from an adoption.
    pub gid_claims: HashMap<i64, GidHolder>,
    /// Organisations by short name: gidNumber and whether adopted.
    pub organisations: HashMap<String, KnownOrganisation>,
    /// POSIX names held by resources (`<org>-<resource>`).
    pub resource_names: HashSet<String>,
}

#[derive(Debug, Clone)]
pub struct KnownPerson {
    pub ldap_dn: Option<String>,
    /// Roster holds this entry already: adopted before, or an account Roster made.
    pub adopted: bool,
}

#[derive(Debug, Clone)]
pub struct GidHolder {
    pub name: String,
    pub adopted: bool,
}

#[derive(Debug, Clone)]
pub struct KnownOrganisation {
    pub gid_number: i64,
    /// Every organisation's group is Roster's: adopted before, or made by Roster.
    pub adopted: bool,
}

/// How a plan is made.
#[derive(Debug, Default, Clone)]
pub struct PlanOptions {
    /// Group cn → owner username (`--owners`), before the owner attribute.
    pub owners: HashMap<String, String>,
    /// Make a personal organisation for each person in no adopted group.
    pub personal_groups: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPerson {
    pub dn: String,
    pub uid: String,
    pub uid_number: i64,
    pub gid_number: i64,
    pub surname: String,
    pub given_name: Option<String>,
    pub mail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrganisation {
    pub dn: String,
    pub cn: String,
    pub gid_number: i64,
    /// The organisation's display name: the group's description, or its cn.
    pub name: String,
    pub owner: String,
    /// The memberUids that are adopted (or already known) people, owner included.
    pub members: Vec<String>,
    /// memberUids that are not adopted: they stay in the group until Roster manages it.
    pub left_out: Vec<String>,
}

/// A personal organisation for someone in no adopted group: named after them, owned by
/// them; its group is their private group when they have one, otherwise a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalOrganisation {
    pub uid: String,
    /// The private group's gidNumber; `None` for a new group.
    pub gid_number: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub dn: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdoptionPlan {
    pub people: Vec<PlannedPerson>,
    pub organisations: Vec<PlannedOrganisation>,
    pub personal: Vec<PersonalOrganisation>,
    pub conflicts: Vec<Conflict>,
    /// Entries read (people and groups): what `--max-change` is a share of.
    pub entries_read: u64,
    /// People and groups adopted by an earlier run, left out of this plan.
    pub already_adopted: u64,
}

impl AdoptionPlan {
    /// How many existing entries applying the plan would take over: the people, the
    /// groups, and the private groups that become personal organisations (a new group
    /// touches no existing entry).
    pub fn changes(&self) -> u64 {
        let private = self
            .personal
            .iter()
            .filter(|personal| personal.gid_number.is_some())
            .count();
        let count = self.people.len() + self.organisations.len() + private;
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    /// Whether applying it stays within `max_percent` of the entries read.
    /// The share of the entries read that applying it would take over, in percent.
    pub fn change_percent(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let share = self.changes() as f64 * 100.0 / self.entries_read.max(1) as f64;
        share
    }
}

/// Decides, for every entry read, whether it is adopted, already adopted or a conflict.
pub fn plan_adoption(
    people: &[ExistingPerson],
    groups: &[ExistingGroup],
    portal: &PortalFacts,
    options: &PlanOptions,
) -> AdoptionPlan {
    let mut plan = AdoptionPlan {
        entries_read: u64::try_from(people.len() + groups.len()).unwrap_or(u64::MAX),
        ..AdoptionPlan::default()
    };
    let adoptable = plan_people(people, portal, &mut plan);
    // Names of the people adopted now or before: members and owners may be either.
    let adopted_or_known = |uid: &str| {
        adoptable.contains_key(uid) || portal.people.get(uid).is_some_and(|p| p.adopted)
    };
    let by_uid: HashMap<&str, &ExistingPerson> = people
        .iter()
        .map(|person| (person.uid.as_str(), person))
        .collect();
    let mut group_gids: HashMap<i64, Vec<&ExistingGroup>> = HashMap::new();
    for group in groups {
        if let Some(gid) = group.gid_number {
            group_gids.entry(gid).or_default().push(group);
        }
    }
    let mut private_groups: HashMap<&str, i64> = HashMap::new();
    // Someone in any group of the directory (adopted or a conflict) gets no personal
    // organisation: once the group's conflict is fixed, it is theirs.
    let in_some_group: HashSet<String> = groups
        .iter()
        .filter(|group| {
            by_uid
                .get(group.cn.as_str())
                .is_none_or(|person| person.gid_number != group.gid_number)
        })
        .flat_map(|group| {
            let owner = options
                .owners
                .get(&group.cn)
                .cloned()
                .or_else(|| group.owner.as_deref().map(owner_username));
            group.member_uids.iter().cloned().chain(owner)
        })
        .collect();
    for group in groups {
        let conflict = |reason: String| Conflict {
            dn: group.dn.clone(),
            reason,
        };
        let Some(gid) = group.gid_number else {
            plan.conflicts
                .push(conflict("no gidNumber, or not a number".into()));
            continue;
        };
        if let Some(known) = portal.organisations.get(&group.cn)
            && known.adopted
            && known.gid_number == gid
        {
            plan.already_adopted += 1;
            continue;
        }
        // A person's private group: their name and their gidNumber.
        if let Some(person) = by_uid.get(group.cn.as_str()) {
            if person.gid_number == Some(gid) {
                private_groups.insert(person.uid.as_str(), gid);
                continue;
            }
            plan.conflicts.push(conflict(format!(
                "the name {} is also a person's uid ({}), and this is not their private group",
                group.cn, person.dn
            )));
            continue;
        }
        if let Some(others) = group_gids.get(&gid).filter(|same| same.len() > 1) {
            let other = others
                .iter()
                .find(|other| other.dn != group.dn)
                .map_or("another group", |other| other.dn.as_str());
            plan.conflicts.push(conflict(format!(
                "duplicate gidNumber {gid}: also held by {other}"
            )));
            continue;
        }
        if let Err(error) = ShortName::parse(&group.cn) {
            plan.conflicts.push(conflict(format!(
                "the name {} breaks Roster's rules for group names: {}",
                group.cn, error.message
            )));
            continue;
        }
        if portal.organisations.contains_key(&group.cn)
            || portal.resource_names.contains(&group.cn)
            || portal.people.contains_key(&group.cn)
        {
            plan.conflicts.push(conflict(format!(
                "the name {} is already used in Roster",
                group.cn
            )));
            continue;
        }
        if let Some(holder) = portal.gid_claims.get(&gid).filter(|holder| !holder.adopted) {
            plan.conflicts.push(conflict(format!(
                "gidNumber {gid} was already handed out by Roster (to {})",
                holder.name
            )));
            continue;
        }
        let owner = options
            .owners
            .get(&group.cn)
            .cloned()
            .or_else(|| group.owner.as_deref().map(owner_username));
        let owner = match owner {
            None => {
                plan.conflicts.push(conflict(
                    "no owner: give one in the group's owner attribute or with --owners".into(),
                ));
                continue;
            }
            Some(owner) if !adopted_or_known(&owner) => {
                plan.conflicts.push(conflict(format!(
                    "the owner {owner} is not a person being adopted (missing, or a conflict)"
                )));
                continue;
            }
            Some(owner) => owner,
        };
        let (mut members, left_out): (Vec<String>, Vec<String>) = group
            .member_uids
            .iter()
            .cloned()
            .partition(|uid| adopted_or_known(uid));
        if !members.contains(&owner) {
            members.push(owner.clone());
        }
        plan.organisations.push(PlannedOrganisation {
            dn: group.dn.clone(),
            cn: group.cn.clone(),
            gid_number: gid,
            name: group
                .description
                .clone()
                .filter(|description| !description.trim().is_empty())
                .unwrap_or_else(|| group.cn.clone()),
            owner,
            members,
            left_out,
        });
    }
    if options.personal_groups {
        // People adopted now or by an earlier (perhaps interrupted) run, whose personal
        // organisation is not made yet.
        let mut candidates: Vec<&ExistingPerson> = people
            .iter()
            .filter(|person| {
                adoptable.contains_key(&person.uid)
                    || portal.people.get(&person.uid).is_some_and(|known| {
                        known.adopted && known.ldap_dn.as_deref() == Some(person.dn.as_str())
                    })
            })
            .filter(|person| !portal.organisations.contains_key(&person.uid))
            .collect();
        candidates.sort_by(|a, b| a.uid.cmp(&b.uid));
        for person in candidates {
            if in_some_group.contains(&person.uid) {
                continue;
            }
            if let Err(error) = ShortName::parse(&person.uid) {
                plan.conflicts.push(Conflict {
                    dn: person.dn.clone(),
                    reason: format!(
                        "no personal organisation: the name {} breaks Roster's rules for group names: {}",
                        person.uid, error.message
                    ),
                });
                continue;
            }
            plan.personal.push(PersonalOrganisation {
                uid: person.uid.clone(),
                gid_number: private_groups.get(person.uid.as_str()).copied(),
            });
        }
    }
    plan.people = adoptable.into_values().collect();
    plan.people.sort_by(|a, b| a.uid.cmp(&b.uid));
    plan.organisations.sort_by(|a, b| a.cn.cmp(&b.cn));
    plan.conflicts.sort_by(|a, b| a.dn.cmp(&b.dn));
    plan
}

/// The people who can be adopted, by uid; conflicts and earlier adoptions go to `plan`.
fn plan_people(
    people: &[ExistingPerson],
    portal: &PortalFacts,
    plan: &mut AdoptionPlan,
) -> BTreeMap<String, PlannedPerson> {
    let mut by_number: HashMap<i64, Vec<&str>> = HashMap::new();
    let mut by_uid: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut by_mail: HashMap<String, Vec<&str>> = HashMap::new();
    for person in people {
        if let Some(number) = person.uid_number {
            by_number.entry(number).or_default().push(&person.dn);
        }
        by_uid.entry(&person.uid).or_default().push(&person.dn);
        if let Some(mail) = person.mail.first() {
            by_mail
                .entry(mail.trim().to_lowercase())
                .or_default()
                .push(&person.dn);
        }
    }
    let also = |dns: &[&str], own: &str| {
        dns.iter()
            .find(|dn| **dn != own)
            .map_or_else(String::new, |dn| (*dn).to_string())
    };
    let mut adoptable = BTreeMap::new();
    for person in people {
        let reason = (|| {
            let uid = ExistingUsername::parse(&person.uid).map_err(|error| {
                format!(
                    "the name {:?} breaks Roster's rules for usernames: {}",
                    person.uid, error.message
                )
            })?;
            let uid_number = person.uid_number.ok_or("no uidNumber, or not a number")?;
            let gid_number = person.gid_number.ok_or("no gidNumber, or not a number")?;
            if let Some(dns) = by_number.get(&uid_number).filter(|dns| dns.len() > 1) {
                return Err(format!(
                    "duplicate uidNumber {uid_number}: also held by {}",
                    also(dns, &person.dn)
                ));
            }
            if let Some(dns) = by_uid.get(person.uid.as_str()).filter(|dns| dns.len() > 1) {
                return Err(format!(
                    "duplicate uid {}: also held by {}",
                    person.uid,
                    also(dns, &person.dn)
                ));
            }
            let raw_mail = person
                .mail
                .first()
                .ok_or("no mail: Roster needs one to reach the person")?;
            let mail = Email::parse(raw_mail).map_err(|error| {
                format!("the mail {raw_mail:?} is not valid: {}", error.message)
            })?;
            if let Some(dns) = by_mail.get(&mail.normalized()).filter(|dns| dns.len() > 1) {
                return Err(format!(
                    "the mail {mail} is also on {}",
                    also(dns, &person.dn)
                ));
            }
            let known = portal.people.get(uid.as_str());
            if let Some(known) = known {
                if known.ldap_dn.as_deref() != Some(person.dn.as_str()) {
                    return Err(format!(
                        "the name {} is already a Roster account not made from this entry",
                        person.uid
                    ));
                }
                if known.adopted {
                    return Ok(None);
                }
            }
            if let Some(holder) = portal.emails.get(&mail.normalized())
                && holder != uid.as_str()
            {
                return Err(format!(
                    "the mail {mail} already belongs to the Roster account {holder}"
                ));
            }
            if let Some(holder) = portal.uid_claims.get(&uid_number)
                && holder != uid.as_str()
            {
                return Err(format!(
                    "uidNumber {uid_number} was already handed out by Roster (to {holder})"
                ));
            }
            if let Some(holder) = portal.gid_claims.get(&gid_number)
                && !holder.adopted
                && holder.name != uid.as_str()
            {
                return Err(format!(
                    "gidNumber {gid_number} was already handed out by Roster (to {})",
                    holder.name
                ));
            }
            if portal.organisations.contains_key(uid.as_str())
                || portal.resource_names.contains(uid.as_str())
            {
                return Err(format!(
                    "the name {} is already a group in Roster",
                    person.uid
                ));
            }
            Ok(Some(PlannedPerson {
                dn: person.dn.clone(),
                uid: uid.as_str().to_string(),
                uid_number,
                gid_number,
                surname: person.surname.clone(),
                given_name: person.given_name.clone(),
                mail: mail.as_str().to_string(),
            }))
        })();
        match reason {
            Ok(Some(planned)) => {
                adoptable.insert(planned.uid.clone(), planned);
            }
            Ok(None) => plan.already_adopted += 1,
            Err(reason) => plan.conflicts.push(Conflict {
                dn: person.dn.clone(),
                reason,
            }),
        }
    }
    adoptable
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
