//! Test harness for the `api` integration tests: real services, never mocks.
//!
//! - [`slapd`]: a private OpenLDAP slapd (via `scripts/ldap/start-slapd`), seeded with
//!   the sample people from `scripts/ldap/sample-people.ldif`;
//! - [`smtp`]: a real SMTP sink (Python's aiosmtpd writing a Maildir) and parsed mails;
//! - [`scim`]: a real SCIM 2.0 server (scim2-server) behind a fault-injecting proxy;
//! - [`database`]: a fresh SQLite file or PostgreSQL database per test
//!   (`ROSTER_TEST_DB=sqlite|postgres`).
//!
//! Every service gets its own free port and temporary directory, so tests run in parallel.
//! Test code may panic with a clear message, hence the allows below.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

pub mod api;
pub mod app;
pub mod database;
pub mod oidc;
pub mod scim;
pub mod slapd;
pub mod smtp;
