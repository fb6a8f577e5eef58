//! Integration tests: the portal over HTTP against a real slapd, SMTP sink and database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests set up and inspect the database and LDAP directly, and read the real clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

mod account_abuse;
mod activation;
mod admin;
mod adoption;
mod api_clients;
mod api_docs;
mod api_invitation_batch;
mod api_limits;
mod api_matrix;
mod api_members;
mod api_resources;
mod api_tokens;
mod authorization;
mod cli;
mod confirmations;
mod csrf;
mod directory;
mod health;
mod home;
mod invitation_batches;
mod invitations;
mod keys;
mod ldap_drift;
mod ldap_failover;
mod lifecycle;
mod mail;
mod mail_outbox;
mod members;
mod metrics;
mod notices;
mod org_invitations;
mod orgs;
mod package;
mod pages;
mod people_index;
mod permissions;
mod profile;
mod races;
mod resource_pages;
mod resources;
mod scim;
mod scim_harness;
mod service;
mod sessions;
mod sign_in;
mod sso;
mod staff;
mod staff_boundaries;
