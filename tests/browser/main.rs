//! Browser tests: the main journeys in headless Chromium at 1280 and 390 px, against the
//! same real portal, slapd, SMTP sink and database as the `api` tests. Every page visited
//! must pass axe-core (no serious or critical violation), must not scroll sideways, and
//! must show a keyboard focus ring of at least 3:1 contrast; each is saved as a
//! screenshot under `target/screenshots/<test>/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and axe-core in
//! `tests/browser/node_modules` (`npm ci --prefix tests/browser`); `scripts/test` installs
//! them. Run only these with `scripts/test --test browser`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../api/support/mod.rs"]
mod support;

mod driver;

mod confirmation;
mod helpdesk;
mod invite;
mod newcomer;
