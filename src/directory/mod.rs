//! The LDAP directory, through ldap3; the only place LDAP lives.
//!
//! One bound connection is shared: an ldap3 handle multiplexes concurrent operations over
//! it. A broken connection is dropped and the next operation reconnects. `ldap.url` may
//! list several servers: operations go to the first that answers, fall over to the next
//! when it fails, and return to the first `ldap.retry_primary_seconds` later (by the
//! app's clock). Every value from
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

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope};
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::config::LdapSettings;
use crate::domain::UnixTime;
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
    clock: Clock,
    shared: Arc<Mutex<Shared>>,
    metrics: Metrics,
}

/// The connection and which server it goes to. `ldap.url` lists servers in order of
/// preference; every operation uses the one in use until it fails.
#[derive(Default)]
struct Shared {
    connection: Option<Ldap>,
    /// Index into `ldap.url` of the server in use.
    active: usize,
    /// Index of the server whose connection was dropped last, to name it when a request
    /// still running on that connection fails after it.
    dropped: usize,
    /// When (by the app's clock) the first server was last found failing, while another
    /// is in use; it is tried again `ldap.retry_primary_seconds` later.
    away_since: Option<UnixTime>,
}

impl Directory {
    pub fn new(settings: LdapSettings, clock: Clock, metrics: Metrics) -> Self {
        Self {
            settings,
            clock,
            shared: Arc::new(Mutex::new(Shared::default())),
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

    fn server(&self, index: usize) -> &str {
        self.settings
            .url
            .as_slice()
            .get(index)
            .map(String::as_str)
            .unwrap_or_default()
    }

    fn server_count(&self) -> usize {
        self.settings.url.as_slice().len().max(1)
    }

    /// Connects to and binds on the server at `index`, counted as one `bind` operation;
    /// the one place a connection opens.
    async fn connect(&self, index: usize) -> Result<Ldap, DirectoryError> {
        let connected = self.connect_and_bind(index).await;
        let outcome = match &connected {
            Ok(_) => LdapOutcome::Ok,
            Err(error) => error.outcome(),
        };
        self.metrics.ldap_operation("bind", outcome);
        connected
    }

    async fn connect_and_bind(&self, index: usize) -> Result<Ldap, DirectoryError> {
        let timeout = self.timeout();
        let url = self.server(index).to_string();
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
                    reason: format!("{error} (on {url})"),
                })?;
            Ok(ldap)
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| DirectoryError::Timeout {
                url: url.clone(),
                seconds: timeout.as_secs(),
            })?
    }

    /// Back to the first server once `retry_primary_seconds` have passed since it failed,
    /// when it answers; otherwise it waits another period.
    async fn retry_first_server(&self, shared: &mut Shared) {
        let Some(since) = shared.away_since else {
            return;
        };
        let retry_after = i64::try_from(self.settings.retry_primary_seconds).unwrap_or(i64::MAX);
        let now = self.clock.now();
        if shared.active == 0 || now.saturating_sub(since) < retry_after {
            return;
        }
        match self.connect(0).await {
            Ok(ldap) => {
                tracing::info!(
                    server = self.server(0),
                    from = self.server(shared.active),
                    "LDAP server {} answers again; back on it from {}",
                    self.server(0),
                    self.server(shared.active)
                );
                shared.connection = Some(ldap);
                shared.active = 0;
                shared.away_since = None;
            }
            Err(error) => {
                tracing::debug!(%error, "the first LDAP server still fails");
                shared.away_since = Some(now);
            }
        }
    }

    /// A connection to the server in use or, when it fails, to the next that answers (in
    /// `ldap.url`'s order, wrapping round). When none answers, the error is that of the
    /// server in use. Called with the lock held, so concurrent requests connect once.
    async fn connect_in_order(&self, shared: &mut Shared) -> Result<Ldap, DirectoryError> {
        let count = self.server_count();
        let mut first_error = None;
        for step in 0..count {
            let index = (shared.active + step) % count;
            match self.connect(index).await {
                Ok(ldap) => {
                    if let Some(error) = &first_error {
                        tracing::warn!(
                            failed = self.server(shared.active),
                            server = self.server(index),
                            %error,
                            "LDAP server {} failed; falling over to {}",
                            self.server(shared.active),
                            self.server(index)
                        );
                        self.switch_to(shared, index);
                    }
                    return Ok(ldap);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| DirectoryError::Unreachable {
            url: self.server(0).to_string(),
            reason: "no LDAP server configured".into(),
        }))
    }

    fn switch_to(&self, shared: &mut Shared, index: usize) {
        if index == 0 {
            shared.away_since = None;
        } else if shared.active == 0 || shared.away_since.is_none() {
            shared.away_since = Some(self.clock.now());
        }
        shared.active = index;
    }

    /// A handle on the shared connection and its server's index, connecting (again, or
    /// to the next server) when needed.
    async fn handle_on(&self) -> Result<(Ldap, usize), DirectoryError> {
        let mut shared = self.shared.lock().await;
        self.retry_first_server(&mut shared).await;
        if let Some(ldap) = shared.connection.as_mut()
            && !ldap.is_closed()
        {
            let mut handle = ldap.clone();
            handle.with_timeout(self.timeout());
            return Ok((handle, shared.active));
        }
        shared.connection = None;
        let ldap = self.connect_in_order(&mut shared).await?;
        let mut handle = ldap.clone();
        handle.with_timeout(self.timeout());
        shared.connection = Some(ldap);
        Ok((handle, shared.active))
    }

    /// A handle on the shared connection, connecting (again) when needed.
    async fn handle(&self) -> Result<Ldap, DirectoryError> {
        Ok(self.handle_on().await?.0)
    }

    /// Turns an ldap3 error into ours. When the connection failed (not the request), it is
    /// dropped and, on an outage, the next operation goes to the next server.
    async fn failed(&self, error: LdapError) -> DirectoryError {
        let outage = matches!(
            error,
            LdapError::Timeout { .. }
                | LdapError::Io { .. }
                | LdapError::EndOfStream
                | LdapError::OpSend { .. }
                | LdapError::ResultRecv { .. }
                | LdapError::IdScrubSend { .. }
                | LdapError::MiscSend { .. }
        );
        let mut shared = self.shared.lock().await;
        // A connection that broke is closed, so an open one is a newer connection, made
        // after this request's connection was dropped.
        let broken = outage && !matches!(error, LdapError::Timeout { .. });
        let newer_connection = shared
            .connection
            .as_mut()
            .is_some_and(|ldap| broken && !ldap.is_closed());
        let failed_server = if matches!(error, LdapError::LdapResult { .. }) {
            shared.active
        } else if shared.connection.is_none() || newer_connection {
            // Another request on the same connection failed first and dropped it.
            shared.dropped
        } else {
            shared.connection = None;
            shared.dropped = shared.active;
            if outage && self.server_count() > 1 {
                let next = (shared.active + 1) % self.server_count();
                tracing::warn!(
                    failed = self.server(shared.active),
                    server = self.server(next),
                    %error,
                    "LDAP server {} failed under a request; falling over to {}",
                    self.server(shared.active),
                    self.server(next)
                );
                self.switch_to(&mut shared, next);
            }
            shared.dropped
        };
        let url = self.server(failed_server).to_string();
        drop(shared);
        match error {
            LdapError::Timeout { .. } => DirectoryError::Timeout {
                url,
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
                url,
                reason: error.to_string(),
            },
            other => DirectoryError::Operation(other.to_string()),
        }
    }

    /// The DN of the first entry under `ldap.base_dn` that matches `filter` (built with
    /// `ldap_escape`), if any: the uniqueness checks of names and numbers. A size limit of
    /// one is enough; "size limit exceeded" without an entry also means there is one (its
    /// DN then unknown, empty).
    pub(crate) async fn first_match(
        &self,
        ldap: &mut Ldap,
        filter: &str,
    ) -> Result<Option<String>, DirectoryError> {
        let result = self
            .operation(
                "search",
                ldap.with_search_options(ldap3::SearchOptions::new().sizelimit(1))
                    .search(&self.settings.base_dn, Scope::Subtree, filter, vec!["1.1"]),
            )
            .await?;
        let first = result
            .0
            .into_iter()
            .next()
            .map(|entry| ldap3::SearchEntry::construct(entry).dn);
        Ok(first.or_else(|| (result.1.rc == 4).then(String::new)))
    }

    /// The readiness check: a read of the root DSE on the server in use, falling over as
    /// an operation would (a stale connection is replaced first). Returns the server that
    /// answered.
    pub async fn ping(&self) -> Result<String, DirectoryError> {
        let mut last_error = None;
        // One more attempt than servers: a connection the server in use dropped while
        // idle is noticed only by using it.
        for _attempt in 0..=self.server_count() {
            let (mut ldap, index) = self.handle_on().await?;
            let read = self
                .operation(
                    "search",
                    ldap.search("", Scope::Base, "(objectClass=*)", vec!["1.1"]),
                )
                .await;
            match read {
                Ok(result) => {
                    return match result.success() {
                        Ok(_) => Ok(self.server(index).to_string()),
                        Err(error) => Err(DirectoryError::Operation(error.to_string())),
                    };
                }
                Err(error) => {
                    if !error.is_outage() {
                        return Err(error);
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| DirectoryError::Unreachable {
            url: self.server(0).to_string(),
            reason: "no answer".into(),
        }))
    }

    /// The server operations go to now (the first in `ldap.url` until it fails).
    pub async fn server_in_use(&self) -> String {
        let shared = self.shared.lock().await;
        self.server(shared.active).to_string()
    }
}
