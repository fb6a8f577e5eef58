use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// 256 random bits; well over the 128 the design asks for.
pub const TOKEN_BYTES: usize = 32;

/// A single-use secret handed to a person in a link (invitations, password resets).
/// Only its [`TokenHash`] is ever stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(***)")
    }
}

/// Hex SHA-256 of a token; what the database keeps. A fast hash is right here because the
/// token has full entropy: there is nothing to brute-force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(String);

impl SecretToken {
    /// A token from random bytes, which the caller reads from the OS (`crate::entropy`).
    pub fn from_random(bytes: [u8; TOKEN_BYTES]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only what [`SecretToken::from_random`] can produce, so junk never reaches a
    /// query.
    pub fn parse(input: &str) -> Option<Self> {
        let decoded = URL_SAFE_NO_PAD.decode(input).ok()?;
        (decoded.len() == TOKEN_BYTES).then(|| Self(input.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(sha256_hex(self.0.as_bytes()))
    }
}

/// SHA-256 of `data`, as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl TokenHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash read back from the database.
    pub fn from_stored(hash: String) -> Self {
        Self(hash)
    }

    /// Compares in constant time, so timing tells nothing about a stored hash.
    pub fn matches(&self, other: &TokenHash) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_parse_back_and_hash_stably() {
        let a = SecretToken::from_random([7; TOKEN_BYTES]);
        let b = SecretToken::from_random([8; TOKEN_BYTES]);
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert_eq!(SecretToken::parse(a.expose()), Some(a.clone()));
        assert_eq!(a.hash(), a.clone().hash());
        assert_eq!(a.hash().as_str().len(), 64);
        assert_eq!(SecretToken::parse("short"), None);
        assert_eq!(SecretToken::parse("*)(uid=*"), None);
    }
}
