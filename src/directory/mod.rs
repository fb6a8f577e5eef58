//! The LDAP directory, through ldap3; the only place LDAP lives.
//!
//! One bound connection is shared: an ldap3 handle multiplexes concurrent operations over
//! it. A broken connection is dropped and the next operation reconnects. Every value from
//! a user goes into filters through `ldap_escape` and into DNs through `dn_escape`.

// The one place this is allowed (clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod accounts;
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
use crate::metrics::{LdapOutcome, Metrics};

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

    fn outcome(&self) -> LdapOutcome {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => LdapOutcome::Outage,
            Self::Refused { .. } | Self::BindFailed { .. } => LdapOutcome::Refused,
            Self::Operation(_) => LdapOutcome::Error,
        }
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

/// What a finished ldap3 call answered: its result code, when it has one yet.
trait Answer {
    fn result_code(&self) -> Option<u32>;
}

impl Answer for ldap3::LdapResult {
    fn result_code(&self) -> Option<u32> {
        Some(self.rc)
    }
}

impl Answer for ldap3::SearchResult {
    fn result_code(&self) -> Option<u32> {
        Some(self.1.rc)
    }
}

impl<S, A> Answer for ldap3::SearchStream<'_, S, A> {
    fn result_code(&self) -> Option<u32> {
        None
    }
}

/// Result codes that answer the question rather than refuse it: sizeLimitExceeded (a
/// search for one match found more) and noSuchObject (the existence checks syncs start with).
const ANSWER_CODES: &[u32] = &[0, 4, 32];

#[derive(Clone)]
pub struct Directory {
    settings: LdapSettings,
    shared: Arc<Mutex<Option<Ldap>>>,
    metrics: Metrics,
}

impl Directory {
    pub fn new(settings: LdapSettings, metrics: Metrics) -> Self {
        Self {
            settings,
            shared: Arc::new(Mutex::new(None)),
            metrics,
        }
    }

    /// Awaits one ldap3 operation, counts it by kind and outcome
    /// (`roster_ldap_operations_total`), and turns its error into ours.
    async fn operation<T: Answer>(
        &self,
        kind: &'static str,
        call: impl Future<Output = Result<T, LdapError>>,
    ) -> Result<T, DirectoryError> {
        match call.await {
            Ok(answer) => {
                let outcome = match answer.result_code() {
                    Some(code) if !ANSWER_CODES.contains(&code) => LdapOutcome::Refused,
                    _ => LdapOutcome::Ok,
                };
                self.metrics.ldap_operation(kind, outcome);
                Ok(answer)
            }
            Err(error) => {
                let error = self.failed(error).await;
                self.metrics.ldap_operation(kind, error.outcome());
                Err(error)
            }
        }
    }

    pub(crate) fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_seconds.max(1))
    }

    /// Connects and binds, counted as one `bind` operation.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let connected = self.connect_and_bind().await;
        let outcome = match &connected {
            Ok(_) => LdapOutcome::Ok,
            Err(error) => error.outcome(),
        };
        self.metrics.ldap_operation("bind", outcome);
        connected
    }

    async fn connect_and_bind(&self) -> Result<Ldap, DirectoryError> {
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
