//! Integration tests: the portal over HTTP against a real slapd, SMTP sink and database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod cli;
mod csrf;
mod health;
mod invitations;
mod mail;
mod pages;
mod sessions;
mod sign_in;
