//! The long-lived services one process holds, shared by the web handlers, the CLI and the
//! background jobs.

use std::sync::Arc;

use crate::auth::oidc::SingleSignOn;
use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::SignInLimiter;
use crate::auth::tokens::KeyRing;
use crate::clock::Clock;
use crate::config::Settings;
use crate::directory::Directory;
use crate::mail::Mailer;
use crate::store::Store;

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
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error(transparent)]
    Oidc(#[from] crate::auth::oidc::OidcError),
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
        .await?;
        store.migrate().await?;
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
        Ok(Self {
            sso,
            keys,
            clock: Clock::default(),
            directory: Directory::new(settings.ldap.clone()),
            hasher: PasswordHasher::new(
                settings.security.bcrypt_cost,
                settings.security.max_concurrent_hashes(),
                std::time::Duration::from_secs(u64::from(
                    settings.security.hash_queue_seconds.max(1),
                )),
            ),
            sign_in_limiter: SignInLimiter::new(&settings.security),
            job_signal: Arc::new(tokio::sync::Notify::new()),
            mail_signal: Arc::new(tokio::sync::Notify::new()),
            mailer: Arc::new(mailer),
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

// The wall clock lives in `clock`; these names stay for the many callers.
pub use crate::clock::{now, today};
