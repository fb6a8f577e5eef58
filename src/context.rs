//! The long-lived services one process holds, shared by the web handlers, the CLI and the
//! background jobs.

use std::sync::Arc;

use crate::auth::oidc::SingleSignOn;
use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::SignInLimiter;
use crate::auth::tokens::KeyRing;
use crate::clock::Clock;
use crate::config::{ScimTargetSettings, Settings};
use crate::directory::Directory;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::scim::{Pacer, ScimTarget};
use crate::store::{ScimPush, Store};

#[derive(Clone)]
pub struct AppContext {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub directory: Directory,
    pub mailer: Arc<Mailer>,
    pub hasher: PasswordHasher,
    pub sign_in_limiter: SignInLimiter,
    /// Wakes the job worker when new directory work is stored.
    pub job_signal: Arc<tokio::sync::Notify>,
    /// Wakes the mail worker when messages are stored.
    pub mail_signal: Arc<tokio::sync::Notify>,
    /// Single sign-on, when `[oidc]` is configured.
    pub sso: Option<Arc<SingleSignOn>>,
    /// The time sessions and budgets go by; tests move it forward.
    pub clock: Clock,
    /// The keys that sign the API's access tokens.
    pub keys: KeyRing,
    /// The SCIM targets (`[[provisioning.scim]]`), each with its paced client.
    pub scim: Arc<Vec<ScimTarget>>,
    /// Wakes the SCIM workers when changes queue work for them.
    pub scim_signal: Arc<tokio::sync::Notify>,
    /// Cancelled when the instance stops (SIGTERM): workers finish what they hold and end.
    pub stopping: tokio_util::sync::CancellationToken,
    /// This instance's Prometheus metrics (one registry per context, so tests count apart).
    pub metrics: Metrics,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("database.url: cannot open the database: {0}")]
    DatabaseUnreachable(crate::store::StoreError),
    #[error("database.url: the database cannot be written: {0}")]
    DatabaseReadOnly(crate::store::StoreError),
    #[error("database.url: the migrations could not be applied: {0}")]
    Migrations(crate::store::StoreError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error(transparent)]
    Oidc(#[from] crate::auth::oidc::OidcError),
    #[error("SCIM target: {0}")]
    Scim(#[from] crate::scim::ScimError),
    #[error("metrics: {0}")]
    Metrics(#[from] crate::metrics::MetricsError),
}

impl AppContext {
    /// Connects to the database (applying migrations) and prepares mail and LDAP clients.
    /// LDAP is not contacted here: the portal starts, and reports not-ready, without it.
    pub async fn connect(mut settings: Settings) -> Result<Self, ContextError> {
        if settings.server.public_url.is_empty() {
            settings.server.public_url = format!("http://{}", settings.server.listen);
        }
        let store = Store::connect(
            settings.database.url.expose(),
            settings.database.max_connections,
        )
        .await
        .map_err(ContextError::DatabaseUnreachable)?;
        store.migrate().await.map_err(ContextError::Migrations)?;
        // A portal that cannot write would fail at the first sign-in: refuse to start.
        store
            .check_writable()
            .await
            .map_err(ContextError::DatabaseReadOnly)?;
        let refolded = store.refold_search_keys().await?;
        if refolded > 0 {
            tracing::info!(refolded, "search keys rewritten to ignore accents");
        }
        let store = store
            .with_member_scan_limit(settings.database.member_scan_limit)
            .with_scim_targets(
                settings
                    .provisioning
                    .scim
                    .iter()
                    .map(|target| ScimPush {
                        name: target.name.clone(),
                        users: target.users,
                        groups: target.groups,
                    })
                    .collect(),
            );
        let scim = settings
            .provisioning
            .scim
            .iter()
            .map(|target| ScimTarget::new(target.clone(), scim_pacer(&store, target)))
            .collect::<Result<Vec<_>, _>>()?;
        let mailer = Mailer::new(&settings.mail)?;
        let sso = match &settings.oidc {
            Some(oidc) => Some(Arc::new(SingleSignOn::new(
                oidc.clone(),
                &settings.server.public_url,
            )?)),
            None => None,
        };
        let keys = KeyRing::new(
            store.clone(),
            i64::from(settings.api.token_minutes.max(1)) * 60,
        );
        let clock = Clock::default();
        let metrics = Metrics::new()?;
        Ok(Self {
            sso,
            keys,
            directory: Directory::new(settings.ldap.clone(), clock.clone(), metrics.clone()),
            clock,
            hasher: PasswordHasher::new(
                settings.security.bcrypt_cost,
                settings.security.max_concurrent_hashes(),
                std::time::Duration::from_secs(u64::from(
                    settings.security.hash_queue_seconds.max(1),
                )),
            )
            .with_metrics(metrics.clone()),
            sign_in_limiter: SignInLimiter::new(&settings.security, metrics.clone()),
            job_signal: Arc::new(tokio::sync::Notify::new()),
            mail_signal: Arc::new(tokio::sync::Notify::new()),
            scim: Arc::new(scim),
            scim_signal: Arc::new(tokio::sync::Notify::new()),
            stopping: tokio_util::sync::CancellationToken::new(),
            mailer: Arc::new(mailer),
            metrics,
            settings: Arc::new(settings),
            store,
        })
    }

    /// Absolute URL for a path, from `server.public_url`.
    pub fn public_link(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.settings.server.public_url.trim_end_matches('/'),
            path
        )
    }
}

/// Waits for the target's next request slot, shared by every instance through the
/// database (`rate_per_minute`), as the mail worker's pacing is.
fn scim_pacer(store: &Store, target: &ScimTargetSettings) -> Pacer {
    let store = store.clone();
    let name = target.name.clone();
    let interval_ms = 60_000 / i64::from(target.rate_per_minute.max(1));
    Arc::new(move || {
        let store = store.clone();
        let name = name.clone();
        Box::pin(async move {
            let Some(now_ms) = crate::clock::now_millis() else {
                return;
            };
            match store.reserve_scim_slot(&name, now_ms, interval_ms).await {
                Ok(slot_ms) => {
                    let wait_ms = (slot_ms - now_ms).clamp(0, 60_000);
                    if wait_ms > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            wait_ms.unsigned_abs(),
                        ))
                        .await;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, target = %name, "could not reserve a SCIM request slot; waiting one interval");
                    tokio::time::sleep(std::time::Duration::from_millis(
                        interval_ms.unsigned_abs(),
                    ))
                    .await;
                }
            }
        })
    })
}

// The wall clock lives in `clock`; these names stay for the many callers.
pub use crate::clock::{now, today};
