//! Service clients of the automation API: creating and revoking them, issuing their access
//! tokens (OAuth 2.0 client credentials), and admitting their requests under the shared
//! per-client rate limit.

use std::net::IpAddr;

use crate::auth::tokens::{AccessClaims, KeyError};
use crate::context::AppContext;
use crate::domain::{AllowedNetworks, ClientName, Permission, Role, Scopes, SecretToken, UnixTime};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::clients::{ApiClient, NewClient};
use crate::store::organisations::Organisation;
use crate::usecases::Actor;

/// Who creates a client, and so which permissions it may carry.
#[derive(Clone, Copy)]
pub enum ClientCreator<'a> {
    Person {
        person_id: &'a str,
        client_ip: Option<&'a str>,
    },
    /// `roster client create`: as an owner of the organisation, or a site administrator
    /// for a site-wide client.
    CommandLine,
}

pub struct ClientRequest<'a> {
    /// `None` for a site-wide client.
    pub organisation: Option<&'a Organisation>,
    pub name: ClientName,
    pub scopes: Scopes,
    pub networks: AllowedNetworks,
    pub expires_at: Option<UnixTime>,
}

pub struct CreatedClient {
    pub id: String,
    /// Shown once; only its hash is stored.
    pub secret: SecretToken,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("you may not manage API clients here")]
    NotAllowed,
    #[error("choose at least one permission for the client")]
    NoScopes,
    /// A client can carry only what its creator may do.
    #[error("you do not hold the permission {} here, so a client you make cannot", .0.as_str())]
    ScopeNotHeld(Permission),
    #[error("the expiry date is in the past")]
    ExpiryPassed,
    #[error("could not generate a secret: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the creator may do where the client will act: the most a client may carry.
pub async fn holdable_scopes(
    ctx: &AppContext,
    creator: ClientCreator<'_>,
    organisation: Option<&Organisation>,
) -> Result<Vec<Permission>, StoreError> {
    match creator {
        ClientCreator::Person { person_id, .. } => {
            let held = ctx
                .store
                .permissions_in(
                    person_id,
                    organisation.map(|organisation| organisation.id.as_str()),
                    &ctx.clock.today_iso(),
                )
                .await?;
            Ok(if held.contains(&Permission::ManageClients) {
                held
            } else {
                Vec::new()
            })
        }
        ClientCreator::CommandLine => {
            let role = if organisation.is_some() {
                Role::Owner
            } else {
                Role::SiteAdmin
            };
            Ok(ctx
                .store
                .role_permissions()
                .await?
                .into_iter()
                .find(|(held, _)| *held == role)
                .map(|(_, permissions)| permissions)
                .unwrap_or_default())
        }
    }
}

pub async fn create_client(
    ctx: &AppContext,
    creator: ClientCreator<'_>,
    request: ClientRequest<'_>,
) -> Result<CreatedClient, ClientError> {
    let holdable = holdable_scopes(ctx, creator, request.organisation).await?;
    if !holdable.contains(&Permission::ManageClients) {
        return Err(ClientError::NotAllowed);
    }
    if request.scopes.is_empty() {
        return Err(ClientError::NoScopes);
    }
    if let Some(missing) = request.scopes.first_outside(&holdable) {
        return Err(ClientError::ScopeNotHeld(missing));
    }
    let now = ctx.clock.now();
    if request.expires_at.is_some_and(|at| at <= now) {
        return Err(ClientError::ExpiryPassed);
    }
    let secret =
        crate::entropy::secret_token().map_err(|error| ClientError::Random(error.to_string()))?;
    let id = format!("rc_{}", uuid::Uuid::new_v4().simple());
    let (actor_id, client_ip) = match creator {
        ClientCreator::Person {
            person_id,
            client_ip,
        } => (Some(person_id), client_ip),
        ClientCreator::CommandLine => (None, None),
    };
    ctx.store
        .create_client(
            NewClient {
                id: &id,
                name: &request.name,
                organisation_id: request.organisation.map(|o| o.id.as_str()),
                secret_hash: &secret.hash(),
                scopes: &request.scopes,
                networks: &request.networks,
                expires_at: request.expires_at,
                created_by: actor_id,
            },
            AuditEvent {
                actor_id,
                action: "client.created",
                organisation_id: request.organisation.map(|o| o.id.as_str()),
                client_ip,
                details: format!(
                    "created API client {} ({id}) with scopes {}",
                    request.name.as_str(),
                    request.scopes.to_scope_string()
                ),
                ..AuditEvent::default()
            },
            now,
        )
        .await?;
    tracing::info!(client = %id, "API client created");
    Ok(CreatedClient { id, secret })
}

/// Revokes a client (of `organisation`, when given): its tokens stop working for
/// Roster's API at once. False when there is no such client there, or it was revoked.
pub async fn revoke_client(
    ctx: &AppContext,
    actor: Actor<'_>,
    client_ip: Option<&str>,
    client_id: &str,
    organisation: Option<&Organisation>,
) -> Result<bool, StoreError> {
    let revoked = ctx
        .store
        .revoke_client(
            client_id,
            organisation.map(|o| o.id.as_str()),
            AuditEvent {
                actor_id: actor.audit_id(),
                action: "client.revoked",
                organisation_id: organisation.map(|o| o.id.as_str()),
                client_ip,
                details: format!("revoked API client {client_id}"),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await?;
    if revoked {
        tracing::info!(client = %client_id, "API client revoked");
    }
    Ok(revoked)
}

/// Where a client stands in its rate-limit window, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_seconds: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// Revoked, deleted, or calling from a network it may not use.
    #[error("the client is revoked or may not call from here")]
    Refused,
    #[error("the client made too many requests this minute")]
    RateLimited(RateState),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts one request of the client against its limit, shared by every instance through
/// the database; refuses a revoked client, one calling from elsewhere than its networks,
/// and one past its limit. The first use of a client is audited.
pub async fn admit(
    ctx: &AppContext,
    client_id: &str,
    address: Option<IpAddr>,
) -> Result<RateState, AdmitError> {
    let now = ctx.clock.now();
    let window = now.div_euclid(60);
    let counted = ctx
        .store
        .count_client_request(client_id, window, now)
        .await?
        .ok_or(AdmitError::Refused)?;
    if !counted.networks.allows(address) {
        return Err(AdmitError::Refused);
    }
    if counted.first_use {
        ctx.store
            .record_first_use(
                client_id,
                AuditEvent {
                    actor_id: Some(client_id),
                    organisation_id: counted.organisation_id.as_deref(),
                    action: "client.first_used",
                    client_ip: address.map(|ip| ip.to_string()).as_deref(),
                    details: "used the API client for the first time".into(),
                    ..AuditEvent::default()
                },
                now,
            )
            .await?;
    }
    let limit = ctx.settings.api.rate_per_minute.max(1);
    let used = u32::try_from(counted.count.max(0)).unwrap_or(u32::MAX);
    let state = RateState {
        limit,
        remaining: limit.saturating_sub(used),
        reset_seconds: 60 - now.rem_euclid(60),
    };
    if used > limit {
        ctx.metrics.rate_limited("api");
        return Err(AdmitError::RateLimited(state));
    }
    Ok(state)
}

pub struct TokenRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    /// The `scope` parameter: narrows the token to these permissions.
    pub scope: Option<&'a str>,
    pub address: Option<IpAddr>,
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub rate: RateState,
}

/// RFC 6749 §5.2 errors the token endpoint answers with.
#[derive(Debug, thiserror::Error)]
pub enum TokenRefusal {
    #[error("client authentication failed")]
    InvalidClient,
    #[error("the requested scope is invalid or exceeds what the client holds")]
    InvalidScope,
    #[error("too many requests")]
    RateLimited(RateState),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The client credentials grant (RFC 6749 §4.4): authenticates the client and issues an
/// access token carrying its organisation and the permissions asked for.
pub async fn issue_token(
    ctx: &AppContext,
    request: TokenRequest<'_>,
) -> Result<IssuedToken, TokenRefusal> {
    let now = ctx.clock.now();
    let (client, stored_hash) = ctx
        .store
        .client_with_secret(request.client_id)
        .await?
        .ok_or(TokenRefusal::InvalidClient)?;
    let secret_ok = SecretToken::parse(request.client_secret)
        .is_some_and(|secret| secret.hash().matches(&stored_hash));
    let usable = client.revoked_at.is_none()
        && client.expires_at.is_none_or(|at| at > now)
        && client.networks.allows(request.address);
    if !secret_ok || !usable {
        tracing::info!(client = %client.id, "token refused: client authentication failed");
        return Err(TokenRefusal::InvalidClient);
    }
    let scopes = match request.scope.map(Scopes::parse) {
        None => client.scopes.clone(),
        Some(Err(_)) => return Err(TokenRefusal::InvalidScope),
        Some(Ok(asked)) if asked.is_empty() => client.scopes.clone(),
        Some(Ok(asked)) => {
            if asked
                .iter()
                .any(|permission| !client.scopes.contains(permission))
            {
                return Err(TokenRefusal::InvalidScope);
            }
            asked
        }
    };
    let rate = match admit(ctx, &client.id, request.address).await {
        Ok(rate) => rate,
        Err(AdmitError::RateLimited(rate)) => return Err(TokenRefusal::RateLimited(rate)),
        Err(AdmitError::Refused) => return Err(TokenRefusal::InvalidClient),
        Err(AdmitError::Store(error)) => return Err(error.into()),
    };
    let lifetime = i64::from(ctx.settings.api.token_minutes.max(1)) * 60;
    let expires_at = client
        .expires_at
        .map_or(now + lifetime, |at| at.min(now + lifetime));
    let resources = match &client.organisation_id {
        Some(organisation_id) => {
            ctx.store
                .resource_names_in_use(organisation_id, &ctx.clock.today_iso())
                .await?
        }
        None => Vec::new(),
    };
    let claims = AccessClaims {
        resources,
        ..access_claims(ctx, &client, &scopes, now, expires_at)
    };
    let access_token = ctx.keys.sign(&claims, now).await?;
    Ok(IssuedToken {
        access_token,
        expires_in: expires_at - now,
        scope: scopes.to_scope_string(),
        rate,
    })
}

fn access_claims(
    ctx: &AppContext,
    client: &ApiClient,
    scopes: &Scopes,
    now: UnixTime,
    expires_at: UnixTime,
) -> AccessClaims {
    AccessClaims {
        iss: issuer(ctx),
        sub: client.id.clone(),
        client_id: client.id.clone(),
        aud: ctx.settings.api.audience.clone(),
        iat: now,
        exp: expires_at,
        jti: uuid::Uuid::new_v4().to_string(),
        scope: scopes.to_scope_string(),
        org: client.organisation_short_name.clone(),
        permissions: scopes.names().into_iter().map(String::from).collect(),
        resources: Vec::new(),
    }
}

/// The `iss` of every token: the portal's public URL, without a trailing slash.
pub fn issuer(ctx: &AppContext) -> String {
    ctx.settings
        .server
        .public_url
        .trim_end_matches('/')
        .to_string()
}

/// Adds a signing key and retires the current one (`roster keys rotate`).
pub async fn rotate_keys(ctx: &AppContext) -> Result<Option<String>, KeyError> {
    ctx.keys.add_key(false, ctx.clock.now()).await
}
