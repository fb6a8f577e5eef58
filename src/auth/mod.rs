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

/// Whether a secret value someone sent equals the one we hold, in constant time.
pub(crate) fn same_secret(held: &str, sent: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(held.as_bytes().ct_eq(sent.as_bytes()))
}
