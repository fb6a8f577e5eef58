//! Sign-in attempt limits, per client address and per account name (governor, in memory).
//!
//! Each instance counts on its own, so behind a load balancer with N instances the
//! effective limit is at most N times the configured one.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::SecuritySettings;

#[derive(Clone)]
pub struct SignInLimiter {
    per_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
}

/// How long until another attempt is allowed.
#[derive(Debug, Clone, Copy)]
pub struct RetryAfter(pub Duration);

impl SignInLimiter {
    pub fn new(settings: &SecuritySettings) -> Self {
        let per_ip =
            NonZeroU32::new(settings.signin_attempts_per_ip_per_minute).unwrap_or(NonZeroU32::MIN);
        let per_account = NonZeroU32::new(settings.signin_attempts_per_account_per_15_minutes)
            .unwrap_or(NonZeroU32::MIN);
        let account_quota = Quota::with_period(Duration::from_secs(15 * 60) / per_account.get())
            .map(|quota| quota.allow_burst(per_account))
            .unwrap_or_else(|| Quota::per_minute(per_account));
        Self {
            per_ip: Arc::new(RateLimiter::keyed(Quota::per_minute(per_ip))),
            per_account: Arc::new(RateLimiter::keyed(account_quota)),
        }
    }

    /// Counts one attempt for this address and account name. Both are counted whether or
    /// not the account exists, so the limit reveals nothing about who has an account.
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), RetryAfter> {
        let clock = DefaultClock::default();
        let wait =
            |not_until: governor::NotUntil<_>| RetryAfter(not_until.wait_time_from(clock.now()));
        self.per_ip.check_key(&ip).map_err(wait)?;
        self.per_account
            .check_key(&account.to_string())
            .map_err(wait)?;
        Ok(())
    }

    /// Drops keys whose limits have fully recovered, so memory does not grow forever.
    pub fn forget_idle(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
    }
}
