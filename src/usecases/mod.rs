//! Operations shared by the web handlers, the API and the CLI. They take parsed domain
//! values and an actor, orchestrate store, directory and mail, and know nothing of HTTP.

pub mod accounts;
pub mod adoption;
pub mod backup;
pub mod clients;
pub mod ids;
pub mod invitation_batch;
pub mod invitations;
pub mod lifecycle;
pub mod member_batch;
pub mod notices;
pub mod organisations;
pub mod own_account;
pub mod people_search;
pub mod provisioning;
pub mod reconcile;
pub mod resources;
pub mod single_sign_on;
pub mod staff_actions;

use crate::store::mail_outbox::QueuedMail;

/// Who makes a change, as audit events record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A signed-in person (their id).
    Person(&'a str),
    /// A service client of the API (its client id).
    Client(&'a str),
    /// The `roster` command, run by the site's administrators.
    CommandLine,
}

impl<'a> Actor<'a> {
    /// The id audit events record as the actor.
    pub fn audit_id(self) -> Option<&'a str> {
        match self {
            Actor::Person(id) | Actor::Client(id) => Some(id),
            Actor::CommandLine => None,
        }
    }

    /// The person, for columns that name one (`invited_by`, `revoked_by`).
    pub fn person_id(self) -> Option<&'a str> {
        match self {
            Actor::Person(id) => Some(id),
            _ => None,
        }
    }

    /// The API client, for columns that name one (`invited_by_client`).
    pub fn client_id(self) -> Option<&'a str> {
        match self {
            Actor::Client(id) => Some(id),
            _ => None,
        }
    }
}

/// A rendered message, ready to be stored with the change that sends it.
pub(crate) fn queued_mail(to: &str, rendered: crate::mail::RenderedMail) -> QueuedMail {
    QueuedMail {
        to: to.to_string(),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        ..QueuedMail::default()
    }
}
