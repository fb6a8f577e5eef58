//! Telling people about changes to how they sign in (ASVS 2.5.5): what changed, when, and
//! from which address, with what to do if it was not them.

use crate::context::AppContext;
use crate::mail::NoticeMail;
use crate::store::mail_outbox::QueuedMail;
use crate::store::people::Person;
use crate::usecases::invitations::format_date;
use crate::usecases::queued_mail;

/// A change to someone's credentials or access.
pub enum CredentialChange<'a> {
    PasswordChanged,
    PasswordReset,
    KeyAdded {
        fingerprint: &'a str,
    },
    KeyRemoved {
        fingerprint: &'a str,
        by_staff: bool,
    },
    Locked,
    Unlocked,
    IdentityLinked {
        issuer: &'a str,
    },
    IdentityUnlinked {
        issuer: &'a str,
    },
}

impl CredentialChange<'_> {
    fn subject(&self) -> &'static str {
        match self {
            Self::PasswordChanged => "Your Roster password was changed",
            Self::PasswordReset => "Your Roster password was reset",
            Self::KeyAdded { .. } => "An SSH key was added to your Roster account",
            Self::KeyRemoved { .. } => "An SSH key was removed from your Roster account",
            Self::Locked => "Your Roster account was locked",
            Self::Unlocked => "Your Roster account was unlocked",
            Self::IdentityLinked { .. } => "A sign-in identity was linked to your Roster account",
            Self::IdentityUnlinked { .. } => {
                "A sign-in identity was unlinked from your Roster account"
            }
        }
    }

    fn what(&self) -> String {
        match self {
            Self::PasswordChanged => "Your password was changed".into(),
            Self::PasswordReset => {
                "Your password was reset with a link sent to this address".into()
            }
            Self::KeyAdded { fingerprint } => {
                format!("The SSH key {fingerprint} was added to your account")
            }
            Self::KeyRemoved {
                fingerprint,
                by_staff,
            } => {
                let by = if *by_staff { " by the helpdesk" } else { "" };
                format!("The SSH key {fingerprint} was removed from your account{by}")
            }
            Self::Locked => "Your account was locked by the helpdesk: you cannot sign in, and LDAP no longer accepts your password or SSH keys".into(),
            Self::Unlocked => "Your account was unlocked by the helpdesk: sign-in, your password and your SSH keys work again".into(),
            Self::IdentityLinked { issuer } => {
                format!("Your account was linked to a sign-in identity at {issuer}")
            }
            Self::IdentityUnlinked { issuer } => {
                format!("The sign-in identity at {issuer} was unlinked from your account")
            }
        }
    }

    fn advice(&self) -> &'static str {
        match self {
            Self::Locked | Self::Unlocked => {
                "If you do not know why, reply to the helpdesk or contact them."
            }
            _ => {
                "If this was you, there is nothing more to do. If it was not you, someone else may have access to your account: reset your password at once with \"Forgot your password?\" on the sign-in page, and tell the helpdesk."
            }
        }
    }
}

/// The message telling the person about `change`, to be stored with the change itself
/// (`AuditEvent::mails`), so it is sent exactly when the change is made. `None` (logged)
/// when it cannot be rendered: the change must not fail for its notice.
pub fn credential_notice(
    ctx: &AppContext,
    person: &Person,
    change: CredentialChange<'_>,
    client_ip: Option<&str>,
) -> Option<QueuedMail> {
    let when = format_date(ctx.clock.now());
    let from = client_ip.map_or_else(
        || "an unknown address".to_string(),
        |ip| format!("the address {ip}"),
    );
    let notice = NoticeMail {
        subject: change.subject().into(),
        greeting_name: person.display_name(),
        paragraphs: vec![
            format!("{} on {when}, from {from}.", change.what()),
            change.advice().into(),
            format!("Sign in: {}", ctx.public_link("/sign-in")),
        ],
    };
    match notice.render() {
        Ok(mail) => Some(queued_mail(&person.email, mail)),
        Err(error) => {
            tracing::warn!(%error, person = %person.id, "credential notice not rendered");
            None
        }
    }
}
