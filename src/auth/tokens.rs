//! Access tokens of the automation API: JWTs in the RFC 9068 profile, signed with Ed25519
//! keys kept in the database (`signing_keys`) and published as a JWKS.
//!
//! Keys are read once and cached: a verifier meeting an unknown `kid` re-reads them (at
//! most every few seconds), and a signer re-reads them every minute, so a key added by
//! `roster keys rotate` on one instance is used by all of them within a minute.

use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::UnixTime;
use crate::store::audit::AuditEvent;
use crate::store::signing_keys::NewKey;
use crate::store::{Store, StoreError};

/// RFC 9068 §2.1: the `typ` of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
const ALGORITHM: &str = "EdDSA";
/// How long a signer keeps using the keys it read before reading them again.
const SIGNING_CACHE_SECONDS: i64 = 60;
/// Least time between two re-reads caused by an unknown `kid`.
const UNKNOWN_KID_RELOAD_SECONDS: i64 = 5;
/// Clock skew allowed between instances for `iat`.
const SKEW_SECONDS: i64 = 60;

/// The claims Roster puts in an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub permissions: Vec<String>,
    /// An organisation client's: the short names of the organisation's resources in use,
    /// so a service can check them from the token alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed or its signature does not verify: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not create a signing key: {0}")]
    Generate(String),
    #[error("a stored signing key is unusable: {0}")]
    Stored(String),
    #[error("no signing key is stored")]
    Missing,
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct LoadedKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

#[derive(Default)]
struct Loaded {
    /// Newest first; the first signs.
    keys: Vec<LoadedKey>,
    loaded_at: UnixTime,
}

/// The signing keys, cached; cheap to clone.
#[derive(Clone)]
pub struct KeyRing {
    store: Store,
    /// How long after retirement a key stays published: the longest a token lives, plus
    /// the time other instances may still sign with it.
    published_after_retirement: i64,
    loaded: Arc<RwLock<Loaded>>,
}

/// A fresh Ed25519 key as PKCS#8 DER, from the operating system's randomness.
fn generate_key() -> Result<Vec<u8>, KeyError> {
    let seed = crate::entropy::random_bytes::<32>()
        .map_err(|error| KeyError::Generate(error.to_string()))?;
    // PKCS#8 v1 (the seed alone), the form jsonwebtoken reads.
    let key = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: seed,
        public_key: None,
    };
    let der = key
        .to_pkcs8_der()
        .map_err(|error| KeyError::Generate(error.to_string()))?;
    Ok(der.as_bytes().to_vec())
}

fn load_key(kid: &str, private_key: &str) -> Result<LoadedKey, KeyError> {
    let der = STANDARD
        .decode(private_key)
        .map_err(|error| KeyError::Stored(format!("{kid}: {error}")))?;
    let encoding = EncodingKey::from_ed_der(&der);
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA)
        .map_err(|error| KeyError::Stored(format!("{kid}: {error}")))?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
    let decoding =
        DecodingKey::from_jwk(&jwk).map_err(|error| KeyError::Stored(format!("{kid}: {error}")))?;
    Ok(LoadedKey {
        kid: kid.to_string(),
        encoding,
        decoding,
        jwk,
    })
}

impl KeyRing {
    pub fn new(store: Store, token_seconds: i64) -> Self {
        Self {
            store,
            published_after_retirement: token_seconds + SIGNING_CACHE_SECONDS,
            loaded: Arc::new(RwLock::new(Loaded::default())),
        }
    }

    /// Adds a new signing key. With `only_if_none` (first start) only when there is none;
    /// otherwise (rotation) the current key retires and stays published until the tokens
    /// it signed have expired. Returns the new key's id, if one was added.
    pub async fn add_key(
        &self,
        only_if_none: bool,
        now: UnixTime,
    ) -> Result<Option<String>, KeyError> {
        let der = generate_key()?;
        let kid = uuid::Uuid::new_v4().simple().to_string();
        let added = self
            .store
            .add_signing_key(
                NewKey {
                    kid: &kid,
                    algorithm: ALGORITHM,
                    private_key: &STANDARD.encode(der),
                },
                only_if_none,
                AuditEvent {
                    action: "signing_key.added",
                    details: format!("added signing key {kid}"),
                    ..AuditEvent::default()
                },
                now,
            )
            .await?;
        self.reload(now).await?;
        Ok(added.then_some(kid))
    }

    /// Makes the first signing key unless there is one (start-up of any instance).
    pub async fn ensure_key(&self, now: UnixTime) -> Result<(), KeyError> {
        self.reload(now).await?;
        if self.loaded_at().is_none() {
            self.add_key(true, now).await?;
        }
        Ok(())
    }

    async fn reload(&self, now: UnixTime) -> Result<(), KeyError> {
        let stored = self
            .store
            .signing_keys(now - self.published_after_retirement)
            .await?;
        let keys = stored
            .iter()
            .filter(|key| key.algorithm == ALGORITHM)
            .map(|key| load_key(&key.kid, &key.private_key))
            .collect::<Result<Vec<_>, _>>()?;
        if let Ok(mut loaded) = self.loaded.write() {
            *loaded = Loaded {
                keys,
                loaded_at: now,
            };
        }
        Ok(())
    }

    /// Reads the keys again when none are loaded or they were read `seconds` ago or more.
    async fn reload_if_older_than(&self, seconds: i64, now: UnixTime) -> Result<(), KeyError> {
        if self
            .loaded_at()
            .is_none_or(|at| now - at >= seconds || at > now)
        {
            self.reload(now).await?;
        }
        Ok(())
    }

    fn loaded_at(&self) -> Option<UnixTime> {
        self.loaded
            .read()
            .ok()
            .filter(|loaded| !loaded.keys.is_empty())
            .map(|loaded| loaded.loaded_at)
    }

    /// Signs `claims` with the newest key.
    pub async fn sign(&self, claims: &AccessClaims, now: UnixTime) -> Result<String, KeyError> {
        self.reload_if_older_than(SIGNING_CACHE_SECONDS, now)
            .await?;
        let loaded = self
            .loaded
            .read()
            .map_err(|_| KeyError::Stored("key cache poisoned".into()))?;
        let key = loaded.keys.first().ok_or(KeyError::Missing)?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|error| KeyError::Stored(error.to_string()))
    }

    /// The published keys.
    pub async fn jwks(&self, now: UnixTime) -> Result<JwkSet, KeyError> {
        self.reload_if_older_than(SIGNING_CACHE_SECONDS, now)
            .await?;
        let loaded = self
            .loaded
            .read()
            .map_err(|_| KeyError::Stored("key cache poisoned".into()))?;
        Ok(JwkSet {
            keys: loaded.keys.iter().map(|key| key.jwk.clone()).collect(),
        })
    }

    /// Checks the token's type, algorithm, signature, issuer, audience and lifetime at
    /// `now` (the portal's clock, which tests move).
    pub async fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: UnixTime,
    ) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| TokenError::Invalid(error.to_string()))?;
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok || header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid("not an EdDSA access token".into()));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("no kid".into()))?;
        if !self.knows(&kid) {
            self.reload_if_older_than(UNKNOWN_KID_RELOAD_SECONDS, now)
                .await
                .map_err(|error| match error {
                    KeyError::Store(error) => TokenError::Store(error),
                    other => TokenError::Invalid(other.to_string()),
                })?;
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Expiry is checked below against the portal's clock rather than the wall clock.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[issuer]);
        let claims = {
            let loaded = self
                .loaded
                .read()
                .map_err(|_| TokenError::Invalid("key cache poisoned".into()))?;
            let key = loaded
                .keys
                .iter()
                .find(|key| key.kid == kid)
                .ok_or_else(|| TokenError::Invalid("unknown or retired key".into()))?;
            jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
                .map_err(|error| TokenError::Invalid(error.to_string()))?
                .claims
        };
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now + SKEW_SECONDS {
            return Err(TokenError::Invalid("issued in the future".into()));
        }
        Ok(claims)
    }

    fn knows(&self, kid: &str) -> bool {
        self.loaded
            .read()
            .is_ok_and(|loaded| loaded.keys.iter().any(|key| key.kid == kid))
    }
}
