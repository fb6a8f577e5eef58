//! Building the HTTP application: `Application::build` binds the configured address (port
//! 0 in tests) and wires middleware, routes and background jobs.

use std::net::TcpListener;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::auth::session_store::DbSessionStore;
use crate::config::Settings;
use crate::context::{AppContext, ContextError};
use crate::web::csrf;
use crate::web::error::WebError;
use crate::web::middleware::{RequestSpan, render_error_page, security_headers};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("the API's signing keys are unusable: {0}")]
    Keys(crate::auth::tokens::KeyError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Server,
    context: AppContext,
    /// The `metrics.listen` listener's port and server, when one is configured.
    metrics: Option<(u16, Server)>,
}

impl Application {
    /// Binds `server.listen` (port 0 picks a free port), connects to the database and
    /// prepares the server; `run_until_stopped` then serves.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let address = settings.server.listen.clone();
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Listen {
            address: address.clone(),
            source,
        })?;
        Self::build_on(settings, listener).await
    }

    /// Like [`Self::build`], on a socket the caller already bound (tests that must know the
    /// port before the portal starts, e.g. to register its redirect URI with a provider).
    pub async fn build_on(
        mut settings: Settings,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        let address = settings.server.listen.clone();
        let bound = listener
            .local_addr()
            .map_err(|source| StartupError::Listen { address, source })?;
        if settings.server.public_url.is_empty() {
            settings.server.public_url = format!("http://{bound}");
        }
        let context = AppContext::connect(settings).await?;
        // The first instance to start makes the key that signs API tokens.
        context
            .keys
            .ensure_key(context.clock.now())
            .await
            .map_err(StartupError::Keys)?;
        let port = bound.port();
        let metrics = match context.settings.metrics.listen.clone() {
            Some(address) => Some(serve_metrics(&address, context.clone())?),
            None => None,
        };
        let server = run(listener, context.clone())?;
        Ok(Self {
            port,
            server,
            context,
            metrics,
        })
    }

    /// The port of the `metrics.listen` listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context(&self) -> &AppContext {
        &self.context
    }

    /// Stops the server (and with it this instance's background jobs) from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let housekeeping = crate::jobs::spawn_housekeeping(self.context.clone());
        let worker = self
            .context
            .settings
            .server
            .outbox_worker
            .then(|| crate::jobs::spawn_worker(self.context.clone()));
        let mail_worker = self
            .context
            .settings
            .server
            .mail_worker
            .then(|| crate::jobs::mail::spawn_mail_worker(self.context.clone()));
        let lifecycle = crate::usecases::lifecycle::spawn_lifecycle(self.context.clone());
        // SCIM targets are outbox work too: off with the outbox worker.
        let scim_workers = if self.context.settings.server.outbox_worker {
            crate::jobs::scim::spawn_scim_workers(self.context.clone())
        } else {
            Vec::new()
        };
        let drift_checks =
            crate::usecases::provisioning::spawn_scheduled_reconcile(self.context.clone());
        let ldap_drift_checks =
            crate::usecases::reconcile::spawn_scheduled_reconcile(self.context.clone());
        let index_refresh = crate::jobs::people_index::spawn_index_refresh(self.context.clone());
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let result = self.server.await;
        if let Some((metrics_server, handle)) = metrics {
            handle.stop(true).await;
            metrics_server.abort();
        }
        housekeeping.abort();
        for scim_worker in scim_workers
            .into_iter()
            .chain(drift_checks)
            .chain(ldap_drift_checks)
            .chain(index_refresh)
        {
            scim_worker.abort();
        }
        if let Some(mail_worker) = mail_worker {
            mail_worker.abort();
        }
        if let Some(worker) = worker {
            worker.abort();
        }
        if let Some(lifecycle) = lifecycle {
            lifecycle.abort();
        }
        result
    }
}

/// Binds `metrics.listen` (loopback only, as the configuration checked).
fn serve_metrics(address: &str, context: AppContext) -> Result<(u16, Server), StartupError> {
    let failed = |source| StartupError::Listen {
        address: format!("{address} (metrics.listen)"),
        source,
    };
    let listener = TcpListener::bind(address).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    let server = crate::web::metrics::serve_on(listener, context).map_err(failed)?;
    Ok((port, server))
}

fn session_key(settings: &Settings) -> Key {
    let secret = settings.server.session_secret.expose();
    if secret.is_empty() {
        tracing::warn!(
            "server.session_secret is not set: using a random key, so sessions end at restart \
             and several instances cannot share them"
        );
        Key::generate()
    } else {
        Key::derive_from(secret.as_bytes())
    }
}

fn run(listener: TcpListener, context: AppContext) -> Result<Server, StartupError> {
    let settings = context.settings.clone();
    let https = settings.server.cookies_secure();
    let key = session_key(&settings);
    let session_ttl =
        actix_web::cookie::time::Duration::hours(i64::from(settings.security.session_hours));
    let session_store = DbSessionStore::new(
        context.store.clone(),
        context.clock.clone(),
        settings.security.session_idle_minutes,
    );
    let data = web::Data::new(context);
    let csrf_cookie = web::Data::new(csrf::CsrfCookie::new(key.clone(), https));
    let address = settings.server.listen.clone();
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(session_store.clone(), key.clone())
            // `__Host-` pins the cookie to this origin; browsers accept it only over HTTPS.
            .cookie_name(if https { "__Host-roster" } else { "roster" }.to_string())
            .cookie_secure(https)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_content_security(CookieContentSecurity::Signed)
            .session_lifecycle(BrowserSession::default().state_ttl(session_ttl))
            .build();
        // Middleware runs outermost-last: tracing sees everything, then headers, error
        // pages, sessions, and CSRF checks right before the handlers.
        App::new()
            .app_data(data.clone())
            .app_data(csrf_cookie.clone())
            .app_data(web::FormConfig::default().limit(2 * 1024 * 1024))
            .wrap(from_fn(csrf::require_token))
            .wrap(sessions)
            .wrap(ErrorHandlers::new().default_handler(render_error_page))
            .wrap(security_headers(https))
            .wrap(TracingLogger::<RequestSpan>::new())
            .wrap(from_fn(crate::web::metrics::observe_request))
            .configure(crate::web::routes)
            .configure(crate::web::api::routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(WebError::NotFound)
            }))
    })
    .listen(listener)
    .map_err(|source| StartupError::Listen { address, source })?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}
