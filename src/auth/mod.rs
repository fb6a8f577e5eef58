//! Who is asking, and may they: sessions, password sign-in, CSRF, rate limits, and the
//! extractors handlers use to require a signed-in person.

pub mod csrf;
pub mod guard;
pub mod identity;
pub mod oidc;
pub mod password;
pub mod rate_limit;
pub mod session_store;

/// Keys inside the session state.
pub(crate) const SESSION_PERSON_ID: &str = "person_id";
pub(crate) const SESSION_CSRF: &str = "csrf";
