//! Roster: the account portal of a research-computing site. See ARCHITECTURE.md.

pub mod auth;
pub mod clock;
pub mod config;
pub mod context;
pub mod directory;
pub mod domain;
pub mod entropy;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod scim;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod usecases;
pub mod web;
