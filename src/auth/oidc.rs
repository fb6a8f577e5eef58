//! OpenID Connect sign-in: discovery, the authorization-code flow with PKCE, `state` and
//! `nonce`, and ID-token verification (signature, issuer, audience, expiry, nonce), through
//! the `openidconnect` crate. The only place that talks to the provider.

use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::config::OidcSettings;

/// How long discovery (provider metadata and keys) is reused before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// How long after a failed discovery the provider is asked again.
const DISCOVERY_RETRY: Duration = Duration::from_secs(15);
/// How long a started sign-in may take at the provider.
pub const PENDING_LOGIN_SECONDS: i64 = 600;

type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery or the token endpoint could not be reached.
    #[error("the identity provider is unreachable: {0}")]
    Unreachable(String),
    /// The provider refused the code (used already, expired, or not ours).
    #[error("the identity provider refused the code: {0}")]
    CodeRefused(String),
    /// The ID token failed verification (signature, issuer, audience, expiry or nonce).
    #[error("the ID token did not verify: {0}")]
    Unverified(String),
    #[error("OpenID Connect is misconfigured: {0}")]
    Configuration(String),
}

/// What the browser's session keeps between sending the person to the provider and their
/// return: used once, then removed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub started_at: i64,
    /// Where to go afterwards (a local path).
    pub next: String,
    /// The id of the invitation being accepted through SSO, if any (never its token: the
    /// session is stored, and tokens are only ever kept hashed).
    pub invitation_id: Option<String>,
}

/// Who the provider says signed in, after verification.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// The configured matching claim's value, when the provider sent it (and, for `email`,
    /// verified it).
    pub match_value: Option<String>,
}

pub struct SingleSignOn {
    settings: OidcSettings,
    redirect_uri: String,
    http: reqwest::Client,
    provider: tokio::sync::Mutex<Discovery>,
}

/// The last discovery: its client while fresh, or when it last failed, so an outage is
/// answered at once instead of every sign-in waiting for the provider in turn.
#[derive(Default)]
struct Discovery {
    client: Option<(Instant, ProviderClient)>,
    failed_at: Option<Instant>,
}

impl SingleSignOn {
    pub fn new(settings: OidcSettings, public_url: &str) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            // Following redirects would open the client to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| OidcError::Configuration(error.to_string()))?;
        Ok(Self {
            redirect_uri: format!("{}/auth/oidc/callback", public_url.trim_end_matches('/')),
            settings,
            http,
            provider: tokio::sync::Mutex::new(Discovery::default()),
        })
    }

    pub fn display_name(&self) -> &str {
        &self.settings.display_name
    }

    /// The provider's client, from discovery (cached for an hour; read again after).
    async fn client(&self) -> Result<ProviderClient, OidcError> {
        let mut cached = self.provider.lock().await;
        if let Some((read_at, client)) = cached.client.as_ref()
            && read_at.elapsed() < DISCOVERY_TTL
        {
            return Ok(client.clone());
        }
        if let Some(failed_at) = cached.failed_at
            && failed_at.elapsed() < DISCOVERY_RETRY
        {
            return Err(OidcError::Unreachable(
                "discovery failed moments ago; not retried yet".into(),
            ));
        }
        let issuer = IssuerUrl::new(self.settings.issuer_url.clone())
            .map_err(|error| OidcError::Configuration(format!("issuer_url: {error}")))?;
        let metadata = match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => metadata,
            Err(error) => {
                cached.failed_at = Some(Instant::now());
                return Err(OidcError::Unreachable(describe(&error)));
            }
        };
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|error| OidcError::Configuration(format!("redirect URI: {error}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose().to_string(),
            )),
        )
        .set_redirect_uri(redirect);
        *cached = Discovery {
            client: Some((Instant::now(), client.clone())),
            failed_at: None,
        };
        Ok(client)
    }

    /// The provider's authorization URL for a new sign-in, and what the session must keep.
    pub async fn start(
        &self,
        next: String,
        invitation_id: Option<String>,
        now: i64,
    ) -> Result<(String, PendingLogin), OidcError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.settings.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok((
            url.to_string(),
            PendingLogin {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                started_at: now,
                next,
                invitation_id,
            },
        ))
    }

    /// Exchanges the code (with the PKCE verifier) and verifies the ID token against the
    /// provider's keys, our client id, the issuer, its expiry and the nonce.
    pub async fn finish(
        &self,
        pending: &PendingLogin,
        code: &str,
    ) -> Result<VerifiedIdentity, OidcError> {
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|error| OidcError::Configuration(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response) => {
                    OidcError::CodeRefused(response.to_string())
                }
                RequestTokenError::Request(error) => OidcError::Unreachable(error.to_string()),
                other => OidcError::CodeRefused(other.to_string()),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Unverified("no ID token in the answer".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = id_token
            .claims(&client.id_token_verifier(), &nonce)
            .map_err(|error| OidcError::Unverified(error.to_string()))?;
        let email = claims.email().map(|email| email.to_string());
        let email_verified = claims.email_verified().unwrap_or(false);
        let match_value = if self.settings.match_claim == "email" {
            email.clone().filter(|_| email_verified)
        } else {
            // Verified above; read the configured claim from the same token's payload.
            claim_from_payload(&id_token.to_string(), &self.settings.match_claim)
        };
        Ok(VerifiedIdentity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email,
            email_verified,
            match_value,
        })
    }
}

/// A string claim from a (verified) JWT's payload.
fn claim_from_payload(jwt: &str, claim: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get(claim)?.as_str().map(str::to_string)
}

/// An error with its causes, for logs and the outbox-style "last error".
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"upn":"ada@example.org","n":1}"#);
        let jwt = format!("header.{payload}.signature");
        assert_eq!(
            claim_from_payload(&jwt, "upn").as_deref(),
            Some("ada@example.org")
        );
        assert_eq!(claim_from_payload(&jwt, "n"), None);
        assert_eq!(claim_from_payload("garbage", "upn"), None);
    }
}
