//! Service clients of the automation API, and their shared per-minute request count.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::audit::AuditEvent;
use super::{Store, StoreError, StoreResult};
use crate::domain::{AllowedNetworks, ClientName, Scopes, TokenHash, UnixTime};

#[derive(Debug, Clone)]
pub struct ApiClient {
    pub id: String,
    pub name: String,
    pub organisation_id: Option<String>,
    /// The organisation's short name, as tokens carry it.
    pub organisation_short_name: Option<String>,
    pub scopes: Scopes,
    pub networks: AllowedNetworks,
    pub expires_at: Option<UnixTime>,
    pub created_by_name: Option<String>,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
}

impl ApiClient {
    /// `active`, `expired` or `revoked`, as lists show it.
    pub fn state(&self, now: UnixTime) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

const COLUMNS: &str = "c.id, c.name, c.organisation_id, o.short_name, c.scopes, c.allowed_cidrs, \
     c.expires_at, c.created_at, c.last_used_at, c.revoked_at, p.surname, p.given_name";
const FROM: &str = "api_clients c LEFT JOIN organisations o ON o.id = c.organisation_id \
     LEFT JOIN people p ON p.id = c.created_by";

fn from_row(row: &AnyRow) -> StoreResult<ApiClient> {
    let scopes: String = row.try_get("scopes")?;
    let networks: String = row.try_get("allowed_cidrs")?;
    let surname: Option<String> = row.try_get("surname")?;
    let given: Option<String> = row.try_get("given_name")?;
    Ok(ApiClient {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        organisation_id: row.try_get("organisation_id")?,
        organisation_short_name: row.try_get("short_name")?,
        scopes: Scopes::parse(&scopes)
            .map_err(|error| StoreError::Corrupt(format!("client scopes: {error}")))?,
        networks: AllowedNetworks::parse(&networks)
            .map_err(|error| StoreError::Corrupt(format!("client networks: {error}")))?,
        expires_at: row.try_get("expires_at")?,
        created_by_name: surname
            .map(|surname| crate::domain::full_name(given.as_deref(), &surname)),
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

pub struct NewClient<'a> {
    pub id: &'a str,
    pub name: &'a ClientName,
    pub organisation_id: Option<&'a str>,
    pub secret_hash: &'a TokenHash,
    pub scopes: &'a Scopes,
    pub networks: &'a AllowedNetworks,
    pub expires_at: Option<UnixTime>,
    pub created_by: Option<&'a str>,
}

/// A client's count in the current minute, after counting this request.
#[derive(Debug, Clone)]
pub struct CountedRequest {
    pub count: i64,
    pub first_use: bool,
    pub networks: AllowedNetworks,
    pub organisation_id: Option<String>,
}

impl Store {
    pub async fn create_client(
        &self,
        new: NewClient<'_>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let mut work = self.begin(now).await?;
        sqlx::query(
            "INSERT INTO api_clients (id, name, organisation_id, secret_hash, scopes, \
             allowed_cidrs, expires_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new.id)
        .bind(new.name.as_str())
        .bind(new.organisation_id)
        .bind(new.secret_hash.as_str())
        .bind(new.scopes.to_scope_string())
        .bind(new.networks.to_list_string())
        .bind(new.expires_at)
        .bind(new.created_by)
        .bind(now)
        .execute(work.conn())
        .await?;
        work.commit_unqueued(Some(new.id), event).await
    }

    /// Clients of one organisation, or every client (site-wide ones too) for `None`,
    /// newest first.
    pub async fn clients(&self, organisation_id: Option<&str>) -> StoreResult<Vec<ApiClient>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE ($1 = '' OR c.organisation_id = $1) \
             ORDER BY c.created_at DESC, c.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(organisation_id.unwrap_or(""))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn client(&self, id: &str) -> StoreResult<Option<ApiClient>> {
        Ok(self.client_with_secret(id).await?.map(|(client, _)| client))
    }

    /// The client and its secret's hash, for the token endpoint.
    pub async fn client_with_secret(
        &self,
        id: &str,
    ) -> StoreResult<Option<(ApiClient, TokenHash)>> {
        let sql = format!("SELECT {COLUMNS}, c.secret_hash FROM {FROM} WHERE c.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            let hash: String = row.try_get("secret_hash")?;
            Ok((from_row(&row)?, TokenHash::from_stored(hash)))
        })
        .transpose()
    }

    /// Revokes a client (of `organisation_id`, when given); false when there is no such
    /// client there or it was revoked already.
    pub async fn revoke_client(
        &self,
        id: &str,
        organisation_id: Option<&str>,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let mut work = self.begin(now).await?;
        let updated = sqlx::query(
            "UPDATE api_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND ($3 = '' OR organisation_id = $3)",
        )
        .bind(now)
        .bind(id)
        .bind(organisation_id.unwrap_or(""))
        .execute(work.conn())
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        work.commit_unqueued(Some(id), event).await?;
        Ok(true)
    }

    /// Counts one request of a client that is not revoked in the minute `window`, in one
    /// statement so that every instance counts against the same row. `None` when the
    /// client is revoked or gone.
    pub async fn count_client_request(
        &self,
        id: &str,
        window: i64,
        now: UnixTime,
    ) -> StoreResult<Option<CountedRequest>> {
        // The connection first: the turn is held only while the statement runs.
        let mut conn = self.pool().acquire().await?;
        let _turn = self.sqlite_write_turn().await;
        let row = sqlx::query(
            "UPDATE api_clients SET \
               rate_count = CASE WHEN rate_window = $1 THEN rate_count + 1 ELSE 1 END, \
               rate_window = $1, last_used_at = $2 \
             WHERE id = $3 AND revoked_at IS NULL RETURNING rate_count, first_used_at, allowed_cidrs, organisation_id",
        )
        .bind(window)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|row| {
            let first_used_at: Option<i64> = row.try_get("first_used_at")?;
            let networks: String = row.try_get("allowed_cidrs")?;
            Ok(CountedRequest {
                count: row.try_get("rate_count")?,
                first_use: first_used_at.is_none(),
                networks: AllowedNetworks::parse(&networks)
                    .map_err(|error| StoreError::Corrupt(format!("client networks: {error}")))?,
                organisation_id: row.try_get("organisation_id")?,
            })
        })
        .transpose()
    }

    /// Marks the client used and audits its first use, once however many requests race.
    pub async fn record_first_use(
        &self,
        id: &str,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let mut work = self.begin(now).await?;
        let updated = sqlx::query(
            "UPDATE api_clients SET first_used_at = $1 WHERE id = $2 AND first_used_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(work.conn())
        .await?;
        if updated.rows_affected() == 1 {
            work.commit_unqueued(Some(id), event).await?;
        }
        Ok(())
    }
}
