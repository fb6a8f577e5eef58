//! Attempt limits in memory (governor): sign-in per client address and per account, and
//! password-reset requests per client address, each with its own budget so that asking for
//! reset links can never lock anyone out of signing in.
//!
//! Each instance counts on its own, so behind a load balancer with N instances the
//! effective limit is at most N times the configured one. The per-account limit on reset
//! mails lives in the database (`Store::create_password_reset`) and holds across instances.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::SecuritySettings;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct SignInLimiter {
    per_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
    resets_per_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    metrics: Metrics,
}

/// How long until another attempt is allowed.
#[derive(Debug, Clone, Copy)]
pub struct RetryAfter(pub Duration);

/// Whose budget a sign-in attempt spends: the account the login names, whichever name was
/// typed (email or username), or the typed text when it names no account, so unknown and
/// known logins are limited alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptKey {
    Account(String),
    UnknownLogin(String),
}

impl AttemptKey {
    fn as_key(&self) -> String {
        match self {
            Self::Account(id) => format!("account:{id}"),
            Self::UnknownLogin(login) => format!("login:{login}"),
        }
    }
}

/// `count` events spread evenly over `period`, all of which may come at once.
fn quota(count: u32, period: Duration) -> Quota {
    let count = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period / count.get())
        .map(|quota| quota.allow_burst(count))
        .unwrap_or_else(|| Quota::per_minute(count))
}

impl SignInLimiter {
    pub fn new(settings: &SecuritySettings, metrics: Metrics) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            per_ip: Arc::new(RateLimiter::keyed(quota(
                settings.signin_attempts_per_ip_per_minute,
                minute,
            ))),
            per_account: Arc::new(RateLimiter::keyed(quota(
                settings.signin_attempts_per_account_per_15_minutes,
                15 * minute,
            ))),
            resets_per_ip: Arc::new(RateLimiter::keyed(quota(
                settings.reset_requests_per_ip_per_hour,
                60 * minute,
            ))),
            metrics,
        }
    }

    /// Counts one sign-in attempt (or current-password check) for this address and account.
    pub fn check(&self, ip: IpAddr, key: &AttemptKey) -> Result<(), RetryAfter> {
        let clock = DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| {
            self.metrics.rate_limited("sign_in");
            RetryAfter(not_until.wait_time_from(clock.now()))
        };
        self.per_ip.check_key(&ip).map_err(wait)?;
        self.per_account.check_key(&key.as_key()).map_err(wait)?;
        Ok(())
    }

    /// Counts one password-reset request from this address; never touches sign-in budgets.
    pub fn check_reset_request(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let clock = DefaultClock::default();
        self.resets_per_ip.check_key(&ip).map_err(|not_until| {
            self.metrics.rate_limited("password_reset");
            RetryAfter(not_until.wait_time_from(clock.now()))
        })
    }

    /// Drops keys whose limits have fully recovered, so memory does not grow forever.
    pub fn forget_idle(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
        self.resets_per_ip.retain_recent();
    }
}
