//! Pure types and rules of the portal. No I/O: nothing here touches the database, LDAP,
//! mail or HTTP, so every rule can be unit-tested on its own.

mod email;
mod invitation;
mod login;
mod name;
mod organisation;
mod password;
mod permission;
mod role;
mod ssh_key;
mod token;
mod username;

pub use email::Email;
pub use invitation::{InvitationState, InvitationStatus};
pub use login::LoginName;
pub use name::PersonName;
pub use organisation::{Description, EndDate, OrganisationName, ShortName};
pub use password::{NewPassword, personal_words};
pub use permission::{Permission, SearchText};
pub use role::Role;
pub use ssh_key::SshPublicKey;
pub use token::{SecretToken, TokenHash};
pub use username::PosixUsername;

/// A user mistake found while parsing input: which field, and what to tell the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Seconds since the Unix epoch; the portal's one representation of time in storage.
pub type UnixTime = i64;
