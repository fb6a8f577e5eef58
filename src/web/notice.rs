//! The notice after a change says whom or what it was about ("Grace Lovelace was removed
//! from Astrophysics Lab."). Its text waits in the session across the redirect, so no text
//! travels in URLs; the URL's `done` code only says which notice is due.

use actix_session::Session;

const SESSION_NOTICE: &str = "notice";

/// Keeps `text` for the page the change redirects to with `?done={code}`.
pub fn keep(session: &Session, code: &str, text: String) {
    if let Err(error) = session.insert(SESSION_NOTICE, (code, text)) {
        tracing::warn!(%error, "notice not kept");
    }
}

/// The notice for `?done={code}`: the text kept for it, or `generic` when none was kept
/// (the page was reloaded, or opened from a bookmark). `None` for an unknown code.
pub fn take(
    session: &Session,
    code: Option<&str>,
    generic: Option<&'static str>,
) -> Option<String> {
    let (code, generic) = (code?, generic?);
    let kept = session
        .remove_as::<(String, String)>(SESSION_NOTICE)
        .and_then(Result::ok)
        .filter(|(kept_for, _)| kept_for == code)
        .map(|(_, text)| text);
    Some(kept.unwrap_or_else(|| generic.to_string()))
}
