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

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    )
    .is_ok()
}
