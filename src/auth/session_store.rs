//! actix-session storage in the database, so sessions survive restarts, are shared by every
//! instance, and can be revoked server-side (sign-out, password change, lock).

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::SESSION_PERSON_ID;
use crate::clock::Clock;
use crate::store::Store;

type SessionState = HashMap<String, String>;

#[derive(Clone)]
pub struct DbSessionStore {
    store: Store,
    clock: Clock,
    /// A session unused for this long has ended.
    idle_seconds: i64,
}

impl DbSessionStore {
    pub fn new(store: Store, clock: Clock, idle_minutes: u32) -> Self {
        Self {
            store,
            clock,
            idle_seconds: i64::from(idle_minutes) * 60,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Sessions last used before this have ended.
    fn idle_since(&self) -> i64 {
        self.now() - self.idle_seconds
    }
}

/// The database keeps only a hash of the cookie's key, so a leaked table cannot be
/// replayed as cookies.
fn key_hash(key: &str) -> String {
    crate::domain::sha256_hex(key.as_bytes())
}

fn new_key() -> anyhow::Result<SessionKey> {
    let bytes: [u8; 32] = crate::entropy::random_bytes()?;
    Ok(SessionKey::try_from(URL_SAFE_NO_PAD.encode(bytes))?)
}

/// The signed-in person, read from the state so it can be indexed for revocation.
fn person_of(state: &SessionState) -> Option<String> {
    state
        .get(SESSION_PERSON_ID)
        .and_then(|raw| serde_json::from_str::<String>(raw).ok())
}

impl SessionStore for DbSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let stored = self
            .store
            .session_state(
                &key_hash(session_key.as_ref()),
                self.now(),
                self.idle_since(),
            )
            .await
            .map_err(|error| LoadError::Other(error.into()))?;
        stored
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|error| LoadError::Deserialization(error.into()))
    }

    async fn save(&self, state: SessionState, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let json = serde_json::to_string(&state)
            .map_err(|error| SaveError::Serialization(error.into()))?;
        let key = new_key().map_err(SaveError::Other)?;
        self.store
            .insert_session(
                &key_hash(key.as_ref()),
                person_of(&state).as_deref(),
                &json,
                self.now() + ttl.whole_seconds(),
                self.now(),
            )
            .await
            .map_err(|error| SaveError::Other(error.into()))?;
        Ok(key)
    }

    /// Stores new state under the same key; the absolute expiry set at creation stays.
    async fn update(
        &self,
        session_key: SessionKey,
        mut state: SessionState,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let json = serde_json::to_string(&state)
            .map_err(|error| UpdateError::Serialization(error.into()))?;
        let updated = self
            .store
            .update_session(
                &key_hash(session_key.as_ref()),
                person_of(&state).as_deref(),
                &json,
                self.now(),
                self.idle_since(),
            )
            .await
            .map_err(|error| UpdateError::Other(error.into()))?;
        if updated {
            return Ok(session_key);
        }
        // The session was revoked while this request ran: never bring the sign-in back,
        // start an anonymous session instead.
        state.remove(SESSION_PERSON_ID);
        self.save(state, ttl).await.map_err(|error| match error {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    /// The absolute lifetime never grows; a use only counts against the idle timeout.
    async fn update_ttl(&self, session_key: &SessionKey, _ttl: &Duration) -> anyhow::Result<()> {
        self.store
            .mark_session_seen(&key_hash(session_key.as_ref()), self.now())
            .await?;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.store
            .delete_session(&key_hash(session_key.as_ref()))
            .await?;
        Ok(())
    }
}
