//! Audit events as the sentences history pages show: who did what to whom. The event code
//! stays on the row as `data-event`; an unknown code still reads as a sentence.

use crate::store::audit::RecordedEvent;

/// One event in words: the actor (shown apart, so pages can mark it up) and the rest of
/// the sentence, ending with a full stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSentence {
    pub actor: String,
    pub rest: String,
}

impl std::fmt::Display for EventSentence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.actor, self.rest)
    }
}

/// The sentence for `event`; `nobody` names an actor the trail does not know (the command
/// line, or Roster's own scheduled work).
pub fn describe(event: &RecordedEvent, nobody: &str) -> EventSentence {
    let actor = event
        .actor_name
        .clone()
        .unwrap_or_else(|| nobody.to_string());
    let person = event.subject_name.as_deref().unwrap_or("a former member");
    let invited = event
        .invitation_email
        .as_deref()
        .unwrap_or("someone no longer listed");
    let details = event.details.trim();
    let after = |marker: &str| {
        details
            .rfind(marker)
            .map(|at| details[at + marker.len()..].trim().to_string())
    };
    let rest = match event.action.as_str() {
        "member.end_date_changed" => match after(" end date to ").as_deref() {
            None | Some("none") => format!("removed {person}'s end date"),
            Some(date) => format!("changed {person}'s end date to {date}"),
        },
        "member.role_changed" => match after("'s role to ") {
            Some(role) => format!("changed {person}'s role to {role}"),
            None => format!("changed {person}'s role"),
        },
        "member.removed" if event.subject_name.is_some() => {
            format!("removed {person} from the organisation")
        }
        "member.changed" if event.subject_name.is_some() => {
            format!("changed {person}'s membership")
        }
        "membership.ended" => match details
            .strip_prefix("membership of ")
            .and_then(|rest| rest.split_once(" ended "))
        {
            Some((_, when)) => format!("ended {person}'s membership {when}"),
            None => format!("ended {person}'s membership"),
        },
        "resource.ended" => match details.split_once(" passed its end date ") {
            Some((group, rest)) => match rest.split_once(';') {
                Some((date, _)) => format!(
                    "ended resource {group}: its end date {date} passed and nobody may use it now"
                ),
                None => format!("ended resource {group}"),
            },
            None => generic(&event.action, details),
        },
        "invitation.created" => match details.find(" (batch ") {
            Some(at) => format!("{} (from a spreadsheet)", &details[..at]),
            None => details.to_string(),
        },
        "invitation.resent" => {
            format!("sent a new invitation link to {invited}; the previous link no longer works")
        }
        "invitation.revoked" => format!("withdrew the invitation to {invited}"),
        "invitation.accepted" if details.ends_with("with an existing account") => {
            "accepted an invitation with their existing account".to_string()
        }
        "invitation.accepted" => match after(" as ") {
            Some(role) => format!("accepted an invitation and joined as {role}"),
            None => "accepted an invitation".to_string(),
        },
        "session.signed_in" if !details.is_empty() => format!("signed in ({details})"),
        "account.locked" => match details.strip_prefix("locked") {
            Some("") | None => format!("locked {person}'s account"),
            Some(reason) => format!(
                "locked {person}'s account{}",
                if reason.starts_with(':') {
                    format!(" ({})", reason.trim_start_matches(':').trim())
                } else {
                    reason.to_string()
                }
            ),
        },
        "account.unlocked" => format!("unlocked {person}'s account"),
        "account.deleted" => format!("deleted {person}'s account"),
        "account.reset_link_sent" => format!("emailed {person} a link to reset their password"),
        "account.resynced" => {
            format!("rewrote {person}'s LDAP entry and groups from what Roster holds")
        }
        "account.key_removed" => format!("{details} from {person}'s account"),
        "account.contact_changed" => format!("changed {person}'s contact details ({details})"),
        "staff.refused" => match details.strip_prefix("refused ") {
            Some(what) => format!("was refused an action on {person}'s account: {what}"),
            None => format!("was refused an action on {person}'s account"),
        },
        "resource.changed" => format!("changed resource {details}"),
        _ => generic(&event.action, details),
    };
    EventSentence {
        actor,
        rest: full_stop(rest),
    }
}

/// How a kind of event reads in a list of kinds: "member.end_date_changed" is
/// "Member end date changed".
pub fn kind_label(code: &str) -> String {
    let words = code.replace(['.', '_'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Other".to_string(),
    }
}

/// Most details are written as what the actor did ("added …", "renamed …"); anything
/// else says which kind of change it was.
fn generic(code: &str, details: &str) -> String {
    let starts_with_a_verb = details
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase());
    if starts_with_a_verb {
        return details.to_string();
    }
    let kind = code.replace(['.', '_'], " ");
    if kind.trim().is_empty() {
        return "made a change".to_string();
    }
    if details.is_empty() {
        format!("made a change recorded as “{kind}”")
    } else {
        format!("made a change recorded as “{kind}”: {details}")
    }
}

fn full_stop(sentence: String) -> String {
    if sentence.ends_with(['.', '!', '?']) {
        sentence
    } else {
        format!("{sentence}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, details: &str) -> RecordedEvent {
        RecordedEvent {
            occurred_at: 0,
            actor_name: Some("Ada Lovelace".into()),
            subject_name: Some("Grace Hopper".into()),
            invitation_email: None,
            action: action.into(),
            details: details.into(),
            client_ip: None,
        }
    }

    #[test]
    fn member_changes_name_actor_subject_and_change() {
        let said = |action: &str, details: &str| describe(&event(action, details), "").to_string();
        assert_eq!(
            said(
                "member.end_date_changed",
                "set Grace Hopper's end date to 2027-03-31"
            ),
            "Ada Lovelace changed Grace Hopper's end date to 2027-03-31."
        );
        assert_eq!(
            said(
                "member.end_date_changed",
                "set Grace Hopper's end date to none"
            ),
            "Ada Lovelace removed Grace Hopper's end date."
        );
        assert_eq!(
            said(
                "member.role_changed",
                "changed Grace Hopper's role to manager"
            ),
            "Ada Lovelace changed Grace Hopper's role to manager."
        );
        assert_eq!(
            said("member.removed", "removed Grace Hopper"),
            "Ada Lovelace removed Grace Hopper from the organisation."
        );
    }

    #[test]
    fn scheduled_work_reads_as_roster_doing_it() {
        let scheduled = |action: &str, details: &str| {
            describe(
                &RecordedEvent {
                    actor_name: None,
                    ..event(action, details)
                },
                "Roster",
            )
            .to_string()
        };
        assert_eq!(
            scheduled(
                "membership.ended",
                "membership of Grace Hopper ended (end date 2026-11-29)"
            ),
            "Roster ended Grace Hopper's membership (end date 2026-11-29)."
        );
        assert_eq!(
            scheduled(
                "account.locked",
                "locked automatically: no membership for 30 days"
            ),
            "Roster locked Grace Hopper's account automatically: no membership for 30 days."
        );
        assert_eq!(
            scheduled("account.locked", "locked: left the lab"),
            "Roster locked Grace Hopper's account (left the lab)."
        );
        assert_eq!(
            scheduled(
                "resource.ended",
                "astro-gpu passed its end date 2026-11-29; nobody may use it now"
            ),
            "Roster ended resource astro-gpu: its end date 2026-11-29 passed and nobody may use it now."
        );
    }

    #[test]
    fn kinds_read_as_words() {
        assert_eq!(
            kind_label("member.end_date_changed"),
            "Member end date changed"
        );
        assert_eq!(kind_label(""), "Other");
    }

    #[test]
    fn invitations_name_the_address() {
        let invitation = |action: &str, details: &str| RecordedEvent {
            subject_name: None,
            invitation_email: Some("grace@example.org".into()),
            ..event(action, details)
        };
        assert_eq!(
            describe(
                &invitation("invitation.revoked", "withdrew the invitation"),
                ""
            )
            .to_string(),
            "Ada Lovelace withdrew the invitation to grace@example.org."
        );
        assert_eq!(
            describe(
                &invitation(
                    "invitation.created",
                    "invited grace@example.org as member (batch 42)"
                ),
                ""
            )
            .to_string(),
            "Ada Lovelace invited grace@example.org as member (from a spreadsheet)."
        );
    }

    #[test]
    fn unknown_codes_and_missing_actors_still_read_as_sentences() {
        let unknown = RecordedEvent {
            actor_name: None,
            ..event("quota.raised", "Quota: 5 TB")
        };
        assert_eq!(
            describe(&unknown, "Roster").to_string(),
            "Roster made a change recorded as “quota raised”: Quota: 5 TB."
        );
        assert_eq!(
            describe(
                &event("organisation.renamed", "renamed the organisation to Astro"),
                ""
            )
            .to_string(),
            "Ada Lovelace renamed the organisation to Astro."
        );
        assert_eq!(describe(&event("", ""), "").rest, "made a change.");
    }
}
