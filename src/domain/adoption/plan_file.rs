//! The plan as a file a person reads and edits: TOML, one person, organisation or conflict
//! per line (inline tables inside arrays), so a line can be deleted or commented out with
//! `#`, and comments may go anywhere.

use std::fmt::Write as _;

use serde::Deserialize;

use super::{AdoptionPlan, Conflict, PersonalOrganisation, PlannedOrganisation, PlannedPerson};

/// The plan format's version; a file of another version is refused.
const VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("the plan is not valid TOML: {0}")]
    Syntax(String),
    #[error("the plan is of version {0}; this Roster reads version 1: make the plan again")]
    Version(i64),
}

/// Where a plan came from, for its header.
pub struct PlanSource<'a> {
    pub made_at: &'a str,
    pub people_base: &'a str,
    pub groups_base: &'a str,
}

/// A TOML basic string: quoted, with `"` `\` and control characters escaped.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quoted_list(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|value| quoted(value)).collect();
    format!("[{}]", items.join(", "))
}

/// Writes the plan with a header saying how to review and apply it.
pub fn write_plan(plan: &AdoptionPlan, source: &PlanSource<'_>) -> String {
    let mut out = String::with_capacity(200 + plan.people.len() * 180);
    let _ = writeln!(
        out,
        "# Roster adoption plan, made {} from {} and {}.\n\
         # {} entries read; {} adopted before are not listed.\n\
         #\n\
         # Review it, then run: roster adopt apply THIS-FILE\n\
         # - Delete a line, or comment it out with #, to leave that person or group out.\n\
         # - An organisation's owner and name may be changed. Numbers, names and mail must\n\
         #   stay as the directory holds them: apply reads the directory again and leaves out\n\
         #   any line that no longer matches it.\n\
         # - Conflicts are never applied. Fix them in the directory, then plan again.\n",
        source.made_at,
        source.people_base,
        source.groups_base,
        plan.entries_read,
        plan.already_adopted
    );
    let _ = writeln!(out, "version = {VERSION}");
    let _ = writeln!(out, "entries_read = {}\n", plan.entries_read);
    let _ = writeln!(
        out,
        "# People to adopt as linked accounts ({}).\npeople = [",
        plan.people.len()
    );
    for person in &plan.people {
        let given = person
            .given_name
            .as_deref()
            .map(|given| format!(", given_name = {}", quoted(given)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {{ uid = {}, uid_number = {}, gid_number = {}, surname = {}{given}, mail = {}, dn = {} }},",
            quoted(&person.uid),
            person.uid_number,
            person.gid_number,
            quoted(&person.surname),
            quoted(&person.mail),
            quoted(&person.dn)
        );
    }
    let _ = writeln!(
        out,
        "]\n\n# Groups to adopt as organisations ({}). members: adopted people;\n\
         # left_out: memberUids that are not adopted, which stay in the group for now.\n\
         organisations = [",
        plan.organisations.len()
    );
    for organisation in &plan.organisations {
        let _ = writeln!(
            out,
            "  {{ cn = {}, gid_number = {}, name = {}, owner = {}, members = {}, left_out = {}, dn = {} }},",
            quoted(&organisation.cn),
            organisation.gid_number,
            quoted(&organisation.name),
            quoted(&organisation.owner),
            quoted_list(&organisation.members),
            quoted_list(&organisation.left_out),
            quoted(&organisation.dn)
        );
    }
    let _ = writeln!(
        out,
        "]\n\n# Personal organisations for people in no adopted group ({}). With a gid_number,\n\
         # the person's private group becomes the organisation; without, a new group is made.\n\
         personal = [",
        plan.personal.len()
    );
    for personal in &plan.personal {
        let gid = personal
            .gid_number
            .map(|gid| format!(", gid_number = {gid}"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {{ uid = {}{gid} }},", quoted(&personal.uid));
    }
    let _ = writeln!(
        out,
        "]\n\n# Conflicts ({}): never applied.\nconflicts = [",
        plan.conflicts.len()
    );
    for conflict in &plan.conflicts {
        let _ = writeln!(
            out,
            "  {{ dn = {}, reason = {} }},",
            quoted(&conflict.dn),
            quoted(&conflict.reason)
        );
    }
    out.push_str("]\n");
    out
}

#[derive(Default)]
struct PlanToml {
    version: Option<i64>,
    entries_read: u64,
    people: Vec<PersonLine>,
    organisations: Vec<OrganisationLine>,
    personal: Vec<PersonalLine>,
    conflicts: Vec<ConflictLine>,
}

/// A plan's scalar lines (`version = 1`, `entries_read = …`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scalars {
    version: Option<i64>,
    entries_read: Option<u64>,
}

/// The lines of a list, read as `items = [ … ]`.
#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

impl PlanToml {
    /// Adds the entries `list = [ … ]` text holds (one line, or a whole one-line list).
    fn extend(&mut self, list: &str, items: &str) -> Result<(), toml::de::Error> {
        fn read<T: serde::de::DeserializeOwned>(items: &str) -> Result<Vec<T>, toml::de::Error> {
            Ok(toml::from_str::<Items<T>>(&format!("items = [\n{items}\n]"))?.items)
        }
        match list {
            "people" => self.people.extend(read(items)?),
            "organisations" => self.organisations.extend(read(items)?),
            "personal" => self.personal.extend(read(items)?),
            _ => self.conflicts.extend(read(items)?),
        }
        Ok(())
    }
}

const LISTS: [&str; 4] = ["people", "organisations", "personal", "conflicts"];

/// Reads the plan a line at a time, each line with the toml crate: a plan of 100,000
/// people never becomes one document tree in memory, and an error names its line.
fn parse(text: &str) -> Result<PlanToml, PlanFileError> {
    let mut file = PlanToml::default();
    let mut open: Option<&str> = None;
    for (index, line) in text.lines().enumerate() {
        let syntax = |error: toml::de::Error| {
            PlanFileError::Syntax(format!("line {}: {}", index + 1, error.message()))
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(list) = open {
            if trimmed.starts_with(']') {
                open = None;
            } else {
                file.extend(list, line).map_err(syntax)?;
            }
            continue;
        }
        let list = trimmed.split_once('=').and_then(|(key, value)| {
            let key = key.trim();
            let value = value.trim();
            (LISTS.contains(&key) && value.starts_with('[')).then_some((key, value))
        });
        match list {
            Some((key, value)) => {
                let inside = value[1..].trim();
                if inside.is_empty() || inside.starts_with('#') {
                    open = LISTS.iter().copied().find(|list| *list == key);
                } else {
                    // The whole list on this line: `key = [ … ]`.
                    let items = value[1..].trim_end();
                    let items = items.strip_suffix(']').unwrap_or(items);
                    file.extend(key, items).map_err(syntax)?;
                }
            }
            None => {
                let scalars: Scalars = toml::from_str(line).map_err(syntax)?;
                file.version = scalars.version.or(file.version);
                file.entries_read = scalars.entries_read.unwrap_or(file.entries_read);
            }
        }
    }
    if let Some(list) = open {
        return Err(PlanFileError::Syntax(format!(
            "the list {list} is not closed with ]"
        )));
    }
    Ok(file)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonLine {
    uid: String,
    uid_number: i64,
    gid_number: i64,
    surname: String,
    given_name: Option<String>,
    mail: String,
    dn: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationLine {
    cn: String,
    gid_number: i64,
    name: String,
    owner: String,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    left_out: Vec<String>,
    dn: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonalLine {
    uid: String,
    gid_number: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConflictLine {
    dn: String,
    reason: String,
}

/// Reads a plan (as written by [`write_plan`], perhaps edited).
pub fn read_plan(text: &str) -> Result<AdoptionPlan, PlanFileError> {
    let file = parse(text)?;
    match file.version {
        Some(VERSION) => {}
        Some(other) => return Err(PlanFileError::Version(other)),
        None => {
            return Err(PlanFileError::Syntax(
                "no `version = 1` line: is this a plan made by `roster adopt plan`?".into(),
            ));
        }
    }
    Ok(AdoptionPlan {
        people: file
            .people
            .into_iter()
            .map(|line| PlannedPerson {
                dn: line.dn,
                uid: line.uid,
                uid_number: line.uid_number,
                gid_number: line.gid_number,
                surname: line.surname,
                given_name: line.given_name,
                mail: line.mail,
            })
            .collect(),
        organisations: file
            .organisations
            .into_iter()
            .map(|line| PlannedOrganisation {
                dn: line.dn,
                cn: line.cn,
                gid_number: line.gid_number,
                name: line.name,
                owner: line.owner,
                members: line.members,
                left_out: line.left_out,
            })
            .collect(),
        personal: file
            .personal
            .into_iter()
            .map(|line| PersonalOrganisation {
                uid: line.uid,
                gid_number: line.gid_number,
            })
            .collect(),
        conflicts: file
            .conflicts
            .into_iter()
            .map(|line| Conflict {
                dn: line.dn,
                reason: line.reason,
            })
            .collect(),
        entries_read: file.entries_read,
        already_adopted: 0,
    })
}
