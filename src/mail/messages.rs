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
    /// Where they are invited to: an organisation's name, or "Roster" for staff.
    pub invited_to: String,
    pub role_label: String,
    pub link: String,
    pub expires: String,
}

impl InvitationMail {
    pub fn render(&self) -> Result<RenderedMail, MailError> {
        Ok(RenderedMail {
            subject: format!("You are invited to {}", self.invited_to),
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
