//! The portal's clock. Everything that decides by time through it (sessions, reset-mail
//! budgets) can be moved forward by tests instead of waiting.

// The one place this is allowed (clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::{EndDate, UnixTime};

/// The wall clock: seconds since the Unix epoch. The only place time is read; code that
/// tests drive by moving time uses a [`Clock`] instead.
pub fn now() -> UnixTime {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the Unix epoch, to order events within a second.
pub fn now_millis() -> Option<i64> {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).ok()
}

/// Today's date, by the wall clock (UTC).
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// Today's date for membership end checks, as stored (`YYYY-MM-DD`).
pub fn today_iso() -> String {
    EndDate::from_date(today()).to_iso()
}

/// Wall-clock time plus an offset that only tests set.
#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> UnixTime {
        now() + self.offset_seconds.load(Ordering::Relaxed)
    }

    /// Today's date by this clock (UTC).
    pub fn today(&self) -> time::Date {
        time::OffsetDateTime::from_unix_timestamp(self.now())
            .map(|at| at.date())
            .unwrap_or_else(|_| today())
    }

    /// Today's date for membership end checks, as stored (`YYYY-MM-DD`).
    pub fn today_iso(&self) -> String {
        EndDate::from_date(self.today()).to_iso()
    }

    /// Now as an RFC 3339 UTC timestamp, to the second (for files people read).
    pub fn now_rfc3339(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.now())
            .ok()
            .and_then(|at| {
                at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }

    /// Moves this clock (and every copy of it) forward; for tests.
    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, Ordering::Relaxed);
    }
}
