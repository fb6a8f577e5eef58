//! The one confirmation page every destructive action goes through: a GET of the action's
//! own address asks the question and says what will happen; its form POSTs to the same
//! address, so without JavaScript nothing is removed by a single stray click.

use actix_web::HttpResponse;
use askama::Template;

use super::error::WebError;
use super::pages::{Layout, render};

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct Confirmation {
    pub layout: Layout,
    /// The question, as the page's heading: "Remove Grace Lovelace from Astrophysics Lab?"
    pub question: String,
    /// What will happen, one sentence each, naming the people and places.
    pub consequences: Vec<String>,
    /// Where the form posts: the same address as the page.
    pub action: String,
    /// Extra hidden fields the action needs (e.g. the version read).
    pub hidden: Vec<(&'static str, String)>,
    /// The danger button's text: "Yes, remove the key".
    pub button: &'static str,
    /// The page the person came from.
    pub cancel: String,
}

impl Confirmation {
    pub fn render(&self) -> Result<HttpResponse, WebError> {
        render(self)
    }
}

/// "1 resource", "3 resources".
pub fn count_of(count: usize, thing: &str) -> String {
    if count == 1 {
        format!("1 {thing}")
    } else {
        format!("{count} {thing}s")
    }
}

/// How a key is named to people: its fingerprint, and its comment when it has one.
pub fn key_label(key: &crate::store::ssh_keys::StoredKey) -> String {
    if key.comment.is_empty() {
        key.fingerprint.clone()
    } else {
        format!("{} ({})", key.fingerprint, key.comment)
    }
}
