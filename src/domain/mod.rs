//! Pure types and rules of the portal. No I/O: nothing here touches the database, LDAP,
//! mail or HTTP, so every rule can be unit-tested on its own.

pub mod adoption;
mod client;
mod common_passwords;
mod dates;
mod email;
mod invitation;
mod invitation_sheet;
mod login;
mod name;
mod organisation;
mod password;
mod permission;
mod reserved_names;
mod resource;
mod role;
pub mod search_key;
mod ssh_key;
mod staff_boundary;
mod token;
mod username;

pub use client::{AllowedNetworks, ClientName, Scopes};
pub use common_passwords::{common_password_count, is_common_password};
pub use dates::{day_of, relative_day};
pub use email::Email;
pub use invitation::{InvitationMessage, InvitationState, InvitationStatus, role_phrase};
pub use invitation_sheet::{
    Invitee, InviteeFields, MAX_SHEET_BYTES, MAX_SHEET_ROWS, SheetError, SheetRow,
    read_invitation_items, read_invitation_sheet, spreadsheet_safe,
};
pub use login::LoginName;
pub use name::{PersonName, full_name};
pub use organisation::{Description, EndDate, OrganisationName, ShortName};
pub use password::{MAX_PASSWORD_BYTES, NewPassword, personal_words};
pub use permission::{DIRECTORY_SEARCH_LIMIT, Permission, SearchText};
pub use resource::{Access, AccessFacts, ResourceKind, Site, resource_group_name};
pub use role::Role;
pub use ssh_key::SshPublicKey;
pub use staff_boundary::{AccountAction, LockReason, Refusal, check_account_action};
pub use token::{SecretToken, TokenHash, sha256_hex};
pub use username::{ExistingUsername, PosixUsername};

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
