//! Prometheus metrics: one registry per [`AppContext`](crate::context::AppContext), so
//! several portals in one process (the tests) count apart.
//!
//! A leaf: directory, auth and jobs record into it, and `web` renders it with the facts
//! read at scrape time (outbox depth, database pool), so it imports none of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub use prometheus::Error as MetricsError;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Request latencies worth telling apart: a cheap page, a bcrypt check, a slow LDAP.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Waits for a hashing thread: none at all, up to `security.hash_queue_seconds`.
const HASH_WAIT_BUCKETS: &[f64] = &[0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What a scrape reads from the store.
#[derive(Debug, Default)]
pub struct ScrapeFacts {
    /// Targets to show even with nothing queued ("ldap", "mail", each SCIM target).
    pub targets: Vec<String>,
    pub outbox: Vec<OutboxCount>,
    pub pool_size: u32,
    pub pool_idle: u32,
}

/// Jobs of one outbox target in one state.
#[derive(Debug)]
pub struct OutboxCount {
    pub target: String,
    /// "pending" or "failed".
    pub state: &'static str,
    pub jobs: i64,
    /// For pending jobs: the age of the oldest, in seconds.
    pub oldest_age_seconds: i64,
}

/// How an LDAP operation ended.
#[derive(Debug, Clone, Copy)]
pub enum LdapOutcome {
    Ok,
    /// The server answered with an error result code.
    Refused,
    /// The server could not be reached or did not answer in time.
    Outage,
    /// Anything else (a protocol or client error).
    Error,
}

impl LdapOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Outage => "outage",
            Self::Error => "error",
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Collectors>,
}

struct Collectors {
    registry: Registry,
    http_requests: HistogramVec,
    outbox_jobs: IntGaugeVec,
    outbox_oldest_pending: IntGaugeVec,
    ldap_operations: IntCounterVec,
    mail_messages: IntCounterVec,
    sign_ins: IntCounterVec,
    rate_limit_refusals: IntCounterVec,
    hash_queue_depth: IntGauge,
    hash_wait: Histogram,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    /// Scrape-time gauges are reset and set again under this lock, so two scrapes at once
    /// never show a half-filled outbox.
    scrape: Mutex<()>,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, MetricsError> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let r = &registry;
        let build_info = register(
            r,
            IntGaugeVec::new(
                Opts::new("roster_build_info", "The running version; always 1."),
                &["version"],
            )?,
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let collectors = Collectors {
            http_requests: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "roster_http_request_duration_seconds",
                        "HTTP requests by route pattern, method and status class.",
                    )
                    .buckets(HTTP_BUCKETS.to_vec()),
                    &["route", "method", "status"],
                )?,
            )?,
            outbox_jobs: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "roster_outbox_jobs",
                        "Outbox jobs by target (ldap, mail, SCIM targets) and state.",
                    ),
                    &["target", "state"],
                )?,
            )?,
            outbox_oldest_pending: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "roster_outbox_oldest_pending_age_seconds",
                        "Age of the oldest pending job of each target; 0 when none.",
                    ),
                    &["target"],
                )?,
            )?,
            ldap_operations: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "roster_ldap_operations_total",
                        "LDAP operations by kind and result (ok, refused, outage, error).",
                    ),
                    &["operation", "result"],
                )?,
            )?,
            mail_messages: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "roster_mail_messages_total",
                        "Mail the worker tried to send, by outcome (sent, failed, deferred).",
                    ),
                    &["outcome"],
                )?,
            )?,
            sign_ins: register(
                r,
                IntCounterVec::new(
                    Opts::new("roster_sign_ins_total", "Password sign-ins by result."),
                    &["result"],
                )?,
            )?,
            rate_limit_refusals: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "roster_rate_limit_refusals_total",
                        "Requests refused by a rate limit, by limiter.",
                    ),
                    &["limiter"],
                )?,
            )?,
            hash_queue_depth: register(
                r,
                IntGauge::new(
                    "roster_password_hash_queue_depth",
                    "bcrypt hashes waiting for a hashing thread.",
                )?,
            )?,
            hash_wait: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "roster_password_hash_wait_seconds",
                        "Time a bcrypt hash waited for a hashing thread.",
                    )
                    .buckets(HASH_WAIT_BUCKETS.to_vec()),
                )?,
            )?,
            pool_connections: register(
                r,
                IntGauge::new(
                    "roster_database_pool_connections",
                    "Open database connections (idle and in use).",
                )?,
            )?,
            pool_idle: register(
                r,
                IntGauge::new(
                    "roster_database_pool_idle_connections",
                    "Open database connections not in use.",
                )?,
            )?,
            scrape: Mutex::new(()),
            registry,
        };
        Ok(Self {
            inner: Arc::new(collectors),
        })
    }

    /// One HTTP request: `route` is the matched pattern ("unmatched" when none matched).
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.inner
            .http_requests
            .with_label_values(&[route, method, class])
            .observe(elapsed.as_secs_f64());
    }

    pub fn ldap_operation(&self, operation: &str, outcome: LdapOutcome) {
        self.inner
            .ldap_operations
            .with_label_values(&[operation, outcome.label()])
            .inc();
    }

    /// `outcome`: "sent", "failed" (refused for good) or "deferred" (tried again later).
    pub fn mail(&self, outcome: &str) {
        self.inner.mail_messages.with_label_values(&[outcome]).inc();
    }

    /// `result`: "ok", "bad_credentials", "locked", "rate_limited", "invalid", "busy", "error".
    pub fn sign_in(&self, result: &str) {
        self.inner.sign_ins.with_label_values(&[result]).inc();
    }

    /// `limiter`: "sign_in", "password_reset" or "api".
    pub fn rate_limited(&self, limiter: &str) {
        self.inner
            .rate_limit_refusals
            .with_label_values(&[limiter])
            .inc();
    }

    /// A hash joined the queue.
    pub fn hash_queued(&self) {
        self.inner.hash_queue_depth.inc();
    }

    /// A hash left the queue for a thread (to run, or to be skipped or given up) after
    /// waiting `waited`.
    pub fn hash_dequeued(&self, waited: Duration) {
        self.inner.hash_queue_depth.dec();
        self.inner.hash_wait.observe(waited.as_secs_f64());
    }

    /// A hash never reached the queue (the threads are gone).
    pub fn hash_not_queued(&self) {
        self.inner.hash_queue_depth.dec();
    }

    /// The text exposition of every metric, with the scrape-time facts filled in.
    pub fn render(&self, facts: &ScrapeFacts) -> Result<String, MetricsError> {
        let inner = &self.inner;
        // A panic elsewhere while holding the lock leaves nothing inconsistent behind.
        let _scrape = inner
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.outbox_jobs.reset();
        inner.outbox_oldest_pending.reset();
        for target in &facts.targets {
            for state in ["pending", "failed"] {
                inner.outbox_jobs.with_label_values(&[target, state]).set(0);
            }
            inner
                .outbox_oldest_pending
                .with_label_values(&[target])
                .set(0);
        }
        for count in &facts.outbox {
            inner
                .outbox_jobs
                .with_label_values(&[count.target.as_str(), count.state])
                .set(count.jobs);
            if count.state == "pending" {
                inner
                    .outbox_oldest_pending
                    .with_label_values(&[count.target.as_str()])
                    .set(count.oldest_age_seconds.max(0));
            }
        }
        inner.pool_connections.set(i64::from(facts.pool_size));
        inner.pool_idle.set(i64::from(facts.pool_idle));
        TextEncoder::new().encode_to_string(&inner.registry.gather())
    }
}
