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

/// How long a stopping server waits for the requests in flight (SIGTERM, systemd's stop).
const REQUEST_GRACE: std::time::Duration = std::time::Duration::from_secs(24);
/// Then how long the workers get to finish the job in hand; with `REQUEST_GRACE`, under
/// the 30 s the unit's `TimeoutStopSec` allows.
const WORKER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

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

    /// Serves until SIGTERM or SIGINT (or [`Self::handle`]'s stop). On SIGTERM the server
    /// stops accepting, finishes the requests in flight (`REQUEST_GRACE`), then the outbox,
    /// mail and SCIM workers finish the job in hand (`WORKER_GRACE`): within 30 s in all,
    /// and whatever is left waits in the outboxes for the next start.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let ctx = &self.context;
        let mut workers = Vec::new();
        if ctx.settings.server.outbox_worker {
            workers.push(crate::jobs::spawn_worker(ctx.clone()));
            // SCIM targets are outbox work too: off with the outbox worker.
            workers.extend(crate::jobs::scim::spawn_scim_workers(ctx.clone()));
        }
        if ctx.settings.server.mail_worker {
            workers.push(crate::jobs::mail::spawn_mail_worker(ctx.clone()));
        }
        // Periodic tasks write through units of work, which roll back when cut short.
        let periodic: Vec<_> = [
            Some(crate::jobs::spawn_housekeeping(ctx.clone())),
            crate::usecases::lifecycle::spawn_lifecycle(ctx.clone()),
            crate::usecases::provisioning::spawn_scheduled_reconcile(ctx.clone()),
            crate::usecases::reconcile::spawn_scheduled_reconcile(ctx.clone()),
            crate::jobs::people_index::spawn_index_refresh(ctx.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let result = self.server.await;
        // Scrapes may go on while the jobs finish; the metrics listener stops last.
        tracing::info!("stopping: finishing the jobs in hand");
        ctx.stopping.cancel();
        for task in &periodic {
            task.abort();
        }
        let finished = tokio::time::timeout(WORKER_GRACE, async {
            for worker in &mut workers {
                let _ = worker.await;
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                "stopped with jobs in hand; they stay in the outbox and run at the next start"
            );
            for worker in &workers {
                worker.abort();
            }
        }
        if let Some((metrics_server, handle)) = metrics {
            handle.stop(true).await;
            metrics_server.abort();
        }
        tracing::info!("stopped");
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
    .shutdown_timeout(REQUEST_GRACE.as_secs())
    .run();
    Ok(server)
}

/// The start-up checks of `roster serve`: one warning line for each service that does not
/// answer as configured, naming the setting to look at. None stops the portal: the
/// outboxes hold directory changes and mail until the service answers. (A database that
/// cannot be written does stop it, in `AppContext::connect`.)
pub async fn check_services(ctx: AppContext) {
    let ldap = &ctx.settings.ldap;
    match ctx.directory.ping().await {
        Err(crate::directory::DirectoryError::BindFailed { dn, reason }) => tracing::warn!(
            "ldap.bind_dn: binding as {dn} failed ({reason}); directory changes wait in the \
             outbox until it works"
        ),
        Err(error) => tracing::warn!(
            "ldap.url: {error}; directory changes wait in the outbox until it answers"
        ),
        Ok(_server) => {
            for (setting, dn) in [
                ("ldap.base_dn", &ldap.base_dn),
                ("ldap.people_dn", &ldap.people_dn),
                ("ldap.groups_dn", &ldap.groups_dn),
            ] {
                match ctx.directory.entry_exists(dn).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        "{setting}: the entry {dn} does not exist in LDAP; accounts and \
                         groups under it cannot be written until it does"
                    ),
                    Err(error) => tracing::warn!("{setting}: could not look up {dn}: {error}"),
                }
            }
        }
    }
    if let Err(reason) = ctx.mailer.check_relay().await {
        let mail = &ctx.settings.mail;
        tracing::warn!(
            "mail.smtp_host: the relay {}:{} does not answer ({reason}); mail waits in the \
             outbox until it does",
            mail.smtp_host,
            mail.smtp_port
        );
    }
}
