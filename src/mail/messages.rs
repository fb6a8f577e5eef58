//! One struct per message; each renders a text and an HTML template.

use askama::Template;

use super::{MailError, RenderedMail};

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
struct InvitationText<'a> {
    mail: &'a InvitationMail,
}

#[derive(Template)]
#[template(path = "mail/invitation.html")]
struct InvitationHtml<'a> {
    mail: &'a InvitationMail,
}

/// "You are invited": sent to a newcomer with their single-use activation link.
pub struct InvitationMail {
    pub greeting_name: String,
    /// The organisation they are invited to; `None` for a site-wide (staff) role.
    pub organisation: Option<String>,
    /// Who invited them; `None` for an API client or the command line.
    pub inviter: Option<String>,
    pub role_label: String,
    pub link: String,
    pub expires: String,
    /// How far off that is when sent: "in 7 days".
    pub expires_in: String,
    /// The inviter's personal message, plain text (escaped in the HTML part).
    pub message: Option<String>,
}

impl InvitationMail {
    /// Where they are invited to: the organisation, or Roster itself.
    pub fn invited_to(&self) -> &str {
        self.organisation.as_deref().unwrap_or("Roster")
    }

    /// "Ada Lovelace invited you to Astrophysics Lab on Roster".
    pub fn subject(&self) -> String {
        let place = match &self.organisation {
            Some(name) => format!("{name} on Roster"),
            None => "Roster".into(),
        };
        match &self.inviter {
            Some(inviter) => format!("{inviter} invited you to {place}"),
            None => format!("You are invited to {place}"),
        }
    }

    pub fn render(&self) -> Result<RenderedMail, MailError> {
        Ok(RenderedMail {
            subject: self.subject(),
            text: InvitationText { mail: self }.render()?,
            html: InvitationHtml { mail: self }.render()?,
        })
    }
}

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct PasswordResetText<'a> {
    mail: &'a PasswordResetMail,
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
struct PasswordResetHtml<'a> {
    mail: &'a PasswordResetMail,
}

/// A single-use link to choose a new password.
pub struct PasswordResetMail {
    pub greeting_name: String,
    /// Sent by the helpdesk on the person's behalf rather than asked for on the site.
    pub sent_by_staff: bool,
    pub link: String,
    pub expires: String,
}

impl PasswordResetMail {
    pub fn render(&self) -> Result<RenderedMail, MailError> {
        Ok(RenderedMail {
            subject: "Reset your Roster password".into(),
            text: PasswordResetText { mail: self }.render()?,
            html: PasswordResetHtml { mail: self }.render()?,
        })
    }
}

#[derive(Template)]
#[template(path = "mail/claim.txt")]
struct ClaimText<'a> {
    mail: &'a ClaimMail,
}

#[derive(Template)]
#[template(path = "mail/claim.html")]
struct ClaimHtml<'a> {
    mail: &'a ClaimMail,
}

/// To a person whose existing account Roster adopted: a single-use link to choose the
/// password that claims it.
pub struct ClaimMail {
    pub greeting_name: String,
    pub username: String,
    pub email: String,
    pub link: String,
    pub expires: String,
}

impl ClaimMail {
    pub fn render(&self) -> Result<RenderedMail, MailError> {
        Ok(RenderedMail {
            subject: format!("Claim your account {} on Roster", self.username),
            text: ClaimText { mail: self }.render()?,
            html: ClaimHtml { mail: self }.render()?,
        })
    }
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeText<'a> {
    mail: &'a NoticeMail,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct NoticeHtml<'a> {
    mail: &'a NoticeMail,
}

/// A plain notice without a link: a few paragraphs under a greeting.
pub struct NoticeMail {
    pub subject: String,
    pub greeting_name: String,
    pub paragraphs: Vec<String>,
}

impl NoticeMail {
    pub fn render(&self) -> Result<RenderedMail, MailError> {
        Ok(RenderedMail {
            subject: self.subject.clone(),
            text: NoticeText { mail: self }.render()?,
            html: NoticeHtml { mail: self }.render()?,
        })
    }

    /// Sent to both the old and the new address when staff change a person's email.
    pub fn email_changed(greeting_name: &str, old: &str, new: &str) -> Self {
        Self {
            subject: "The email address of your Roster account changed".into(),
            greeting_name: greeting_name.into(),
            paragraphs: vec![
                format!(
                    "The helpdesk changed the email address of your Roster account from {old} to {new}."
                ),
                format!(
                    "From now on, sign in with {new} (or your username); messages about your account go there."
                ),
                "If you did not ask for this change, contact the helpdesk at once.".into(),
            ],
        }
    }

    /// The reminder before a membership's end date, to the member or to an owner.
    pub fn membership_ending(
        greeting_name: &str,
        member_name: Option<&str>,
        organisation: &str,
        ends_on: &str,
    ) -> Self {
        let (subject, first) = match member_name {
            None => (
                format!("Your membership of {organisation} ends on {ends_on}"),
                format!(
                    "Your membership of {organisation} ends on {ends_on}. After that day you lose access to the group's files and resources."
                ),
            ),
            Some(member) => (
                format!("{member}'s membership of {organisation} ends on {ends_on}"),
                format!(
                    "The membership of {member} in {organisation} ends on {ends_on}. After that day they lose access to the group's files and resources."
                ),
            ),
        };
        Self {
            subject,
            greeting_name: greeting_name.into(),
            paragraphs: vec![
                first,
                "To keep it, an owner or manager of the organisation can change the end date on the member's page in Roster.".into(),
            ],
        }
    }

    /// Sent when a membership has ended, to the member or to an owner.
    pub fn membership_ended(
        greeting_name: &str,
        member_name: Option<&str>,
        organisation: &str,
        grace_days: u32,
    ) -> Self {
        let paragraphs = match member_name {
            None => vec![
                format!(
                    "Your membership of {organisation} has ended, and you were removed from its group."
                ),
                format!(
                    "If you have no other membership, your account will be locked in {grace_days} days. Ask an organisation's owner to add you if you still need it."
                ),
            ],
            Some(member) => vec![format!(
                "The membership of {member} in {organisation} has ended, and they were removed from its group."
            )],
        };
        Self {
            subject: match member_name {
                None => format!("Your membership of {organisation} has ended"),
                Some(member) => format!("{member}'s membership of {organisation} has ended"),
            },
            greeting_name: greeting_name.into(),
            paragraphs,
        }
    }

    /// To site admins, when a SCIM target's drift report changed and shows differences.
    pub fn scim_drift(greeting_name: &str, target: &str, differences: usize, link: &str) -> Self {
        Self {
            subject: format!("SCIM target {target}: {differences} difference(s) from Roster"),
            greeting_name: greeting_name.into(),
            paragraphs: vec![
                format!(
                    "The scheduled check found {differences} difference(s) between the SCIM target {target} and what Roster expects it to hold: objects missing or extra, or with other attributes or members."
                ),
                format!("Review them, and repair them one by one or all at once, at {link}"),
                "You will hear again only when the report changes.".into(),
            ],
        }
    }

    /// To site admins, when the LDAP drift report's count changed and is not zero.
    pub fn ldap_drift(greeting_name: &str, differences: usize, link: &str) -> Self {
        Self {
            subject: format!("LDAP: {differences} difference(s) from Roster"),
            greeting_name: greeting_name.into(),
            paragraphs: vec![
                format!(
                    "The scheduled check found {differences} difference(s) between LDAP and what Roster expects it to hold: entries missing, attributes or members that differ, or entries under Roster's bases that Roster does not know."
                ),
                format!("Review them, and repair them one by one or all at once, at {link}"),
                "You will hear again only when the number of differences changes.".into(),
            ],
        }
    }
}
