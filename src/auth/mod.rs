//! Authentication services that know nothing of HTTP handlers: password hashing, the
//! session store, the OpenID Connect client, attempt limits and the API's access tokens. The HTTP side (CSRF
//! middleware, the signed-in extractor, permission guards) is in `web`.

pub mod oidc;
pub mod password;
pub mod rate_limit;
pub mod session_store;
pub mod tokens;

/// Keys inside the session state.
pub(crate) const SESSION_PERSON_ID: &str = "person_id";
pub(crate) const SESSION_CSRF: &str = "csrf";

/// Whether a secret value someone sent equals the one we hold, in constant time.
pub(crate) fn same_secret(held: &str, sent: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(held.as_bytes().ct_eq(sent.as_bytes()))
}
