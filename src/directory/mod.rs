//! The LDAP directory, through ldap3; the only place LDAP lives.
//!
//! One bound connection is shared: an ldap3 handle multiplexes concurrent operations over
//! it. A broken connection is dropped and the next operation reconnects. Every value from
//! a user goes into filters through `ldap_escape` and into DNs through `dn_escape`.

// The one place this is allowed (clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod accounts;
mod checks;
mod drift;
mod existing;
mod groups;
mod index;
mod people;

pub use accounts::{AccountFacts, AccountState, LiveEntry};
pub use drift::{Container, ScannedEntry, first_value};
pub use groups::{GroupPlace, GroupState};
pub use index::INDEX_PAGE;
pub use people::{DirectoryPerson, PersonKey, SearchResults};

use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};
use tokio::sync::Mutex;

use crate::config::LdapSettings;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("LDAP server {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("LDAP bind as {dn} failed: {reason}")]
    BindFailed { dn: String, reason: String },
    #[error("LDAP server {url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("LDAP operation failed: {0}")]
    Operation(String),
    /// The server answered with an error result code.
    #[error("LDAP refused the change: {message}")]
    Refused { code: u32, message: String },
}

/// Result codes no retry can cure: the request itself breaks the schema or a constraint
/// (RFC 4511 appendix A), so only a change of the data will help.
const PERMANENT_RESULT_CODES: &[u32] = &[
    17, // undefinedAttributeType
    18, // inappropriateMatching
    19, // constraintViolation
    21, // invalidAttributeSyntax
    34, // invalidDNSyntax
    64, // namingViolation
    65, // objectClassViolation
    67, // notAllowedOnRDN
    69, // objectClassModsProhibited
];

impl DirectoryError {
    /// The directory could not be reached at all (as opposed to refusing a request).
    pub fn is_outage(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Timeout { .. })
    }

    /// Whether retrying the same request can never succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Refused { code, .. } if PERMANENT_RESULT_CODES.contains(code))
    }

    /// An error result from the server.
    pub(crate) fn refused(result: &ldap3::LdapResult) -> Self {
        Self::Refused {
            code: result.rc,
            message: result.to_string(),
        }
    }
}

#[derive(Clone)]
pub struct Directory {
    settings: LdapSettings,
    shared: Arc<Mutex<Option<Ldap>>>,
}

impl Directory {
    pub fn new(settings: LdapSettings) -> Self {
        Self {
            settings,
            shared: Arc::new(Mutex::new(None)),
        }
    }

    pub(crate) fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_seconds.max(1))
    }

    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let timeout = self.timeout();
        let url = self.settings.url.clone();
        let attempt = async {
            let conn_settings = LdapConnSettings::new().set_conn_timeout(timeout);
            let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, &url)
                .await
                .map_err(|error| DirectoryError::Unreachable {
                    url: url.clone(),
                    reason: error.to_string(),
                })?;
            ldap3::drive!(conn);
            ldap.simple_bind(&self.settings.bind_dn, self.settings.bind_password.expose())
                .await
                .and_then(|result| result.success())
                .map_err(|error| DirectoryError::BindFailed {
                    dn: self.settings.bind_dn.clone(),
                    reason: error.to_string(),
                })?;
            Ok(ldap)
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| DirectoryError::Timeout {
                url: self.settings.url.clone(),
                seconds: timeout.as_secs(),
            })?
    }

    /// A handle on the shared connection, connecting (again) when needed.
    async fn handle(&self) -> Result<Ldap, DirectoryError> {
        let mut shared = self.shared.lock().await;
        if let Some(ldap) = shared.as_mut()
            && !ldap.is_closed()
        {
            let mut handle = ldap.clone();
            handle.with_timeout(self.timeout());
            return Ok(handle);
        }
        let ldap = self.connect().await?;
        let mut handle = ldap.clone();
        handle.with_timeout(self.timeout());
        *shared = Some(ldap);
        Ok(handle)
    }

    /// Turns an ldap3 error into ours, dropping the shared connection when it is the
    /// connection that failed (not the request).
    async fn failed(&self, error: LdapError) -> DirectoryError {
        let connection_level = !matches!(error, LdapError::LdapResult { .. });
        if connection_level {
            *self.shared.lock().await = None;
        }
        match error {
            LdapError::Timeout { .. } => DirectoryError::Timeout {
                url: self.settings.url.clone(),
                seconds: self.timeout().as_secs(),
            },
            LdapError::LdapResult { result } => DirectoryError::refused(&result),
            // The connection broke under the request (the server went away before this
            // handle saw it closed): an outage, as when it cannot be reached at all.
            LdapError::Io { .. }
            | LdapError::EndOfStream
            | LdapError::OpSend { .. }
            | LdapError::ResultRecv { .. }
            | LdapError::IdScrubSend { .. }
            | LdapError::MiscSend { .. } => DirectoryError::Unreachable {
                url: self.settings.url.clone(),
                reason: error.to_string(),
            },
            other => DirectoryError::Operation(other.to_string()),
        }
    }

    /// Connects and binds afresh, then unbinds: the readiness check, independent of the
    /// shared connection.
    pub async fn ping(&self) -> Result<(), DirectoryError> {
        let mut ldap = self.connect().await?;
        // A failed unbind after a good bind does not make the directory unready.
        let _ = ldap.unbind().await;
        Ok(())
    }
}
