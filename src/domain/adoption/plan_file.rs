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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanToml {
    version: i64,
    #[serde(default)]
    entries_read: u64,
    #[serde(default)]
    people: Vec<PersonLine>,
    #[serde(default)]
    organisations: Vec<OrganisationLine>,
    #[serde(default)]
    personal: Vec<PersonalLine>,
    #[serde(default)]
    conflicts: Vec<ConflictLine>,
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
    let file: PlanToml =
        toml::from_str(text).map_err(|error| PlanFileError::Syntax(error.to_string()))?;
    if file.version != VERSION {
        return Err(PlanFileError::Version(file.version));
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
