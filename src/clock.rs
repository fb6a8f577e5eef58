//! The portal's clock. Everything that decides by time through it (sessions, reset-mail
//! budgets) can be moved forward by tests instead of waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::UnixTime;

/// Wall-clock time plus an offset that only tests set.
#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> UnixTime {
        time::OffsetDateTime::now_utc().unix_timestamp()
            + self.offset_seconds.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every copy of it) forward; for tests.
    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, Ordering::Relaxed);
    }
}
