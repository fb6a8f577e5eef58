//! SCIM 2.0 service providers (RFC 7643/7644) through reqwest: the only place their HTTP
//! lives. What a User or Group must hold is decided here from plain facts (`UserState`,
//! `GroupState`), as `directory` does for LDAP entries; the outbox (`crate::jobs::scim`)
//! joins this with the database.

mod state;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::config::ScimTargetSettings;

pub use state::{GroupState, UserState, remote_members, user_differences};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const CONTENT_TYPE: &str = "application/scim+json";
/// Objects asked for per list request (the target may send fewer).
const PAGE_SIZE: usize = 100;
/// Operations per PATCH request, so a large group's change stays a modest request.
const PATCH_OPERATIONS: usize = 200;

/// Why a request did not do what it asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScimError {
    /// 429: the target asks to wait (its `Retry-After`, in seconds, when it said).
    #[error("the target is rate limiting (429){}", retry_hint(.retry_after))]
    RateLimited { retry_after: Option<u64> },
    /// Unreachable, timed out, or a 5xx: worth trying again later.
    #[error("the target is unavailable: {0}")]
    Unavailable(String),
    /// 409 on create: the name is taken there.
    #[error("the target already has this object (409): {0}")]
    Conflict(String),
    /// Any other 4xx: the target refuses the data; trying again will not help.
    #[error("the target refused the request ({status}): {detail}")]
    Refused { status: u16, detail: String },
}

fn retry_hint(retry_after: &Option<u64>) -> String {
    retry_after
        .map(|seconds| format!(", retry after {seconds} s"))
        .unwrap_or_default()
}

pub type ScimResult<T> = Result<T, ScimError>;

/// Which resource endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Users,
    Groups,
}

impl Endpoint {
    pub const fn path(self) -> &'static str {
        match self {
            Endpoint::Users => "Users",
            Endpoint::Groups => "Groups",
        }
    }
}

/// A remote object's id and its representation.
#[derive(Debug, Clone)]
pub struct RemoteObject {
    pub id: String,
    pub body: Value,
}

impl RemoteObject {
    fn from_body(body: Value) -> ScimResult<Self> {
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ScimError::Unavailable("the target's answer has no id".into()))?
            .to_string();
        Ok(Self { id, body })
    }

    pub fn external_id(&self) -> Option<&str> {
        self.body
            .get("externalId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
    }
}

/// One operation of a Bulk request (RFC 7644 §3.7) and what became of it.
#[derive(Debug, Clone)]
pub enum BulkWrite {
    Create { external_id: String, body: Value },
    Replace { id: String, body: Value },
}

#[derive(Debug)]
pub enum BulkOutcome {
    /// Written; the object's id at the target.
    Done(String),
    Failed(ScimError),
}

/// Waits for this target's next request slot (the outbox's shared pacing).
pub type Pacer = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// One target's client. Every request waits for the pacer first.
#[derive(Clone)]
pub struct ScimClient {
    pub name: String,
    base_url: String,
    token: crate::config::Secret,
    http: reqwest::Client,
    pacer: Pacer,
}

impl ScimClient {
    pub fn new(settings: &ScimTargetSettings, pacer: Pacer) -> Result<Self, ScimError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_seconds))
            .connect_timeout(Duration::from_secs(settings.timeout_seconds.min(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ScimError::Unavailable(error.to_string()))?;
        Ok(Self {
            name: settings.name.clone(),
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            token: settings.bearer_token.clone(),
            http,
            pacer,
        })
    }

    /// The most operations one Bulk request may carry, when the target supports Bulk.
    pub async fn bulk_limit(&self) -> ScimResult<Option<usize>> {
        let config = self
            .send(reqwest::Method::GET, "ServiceProviderConfig", None)
            .await?;
        let bulk = config.get("bulk");
        let supported = bulk
            .and_then(|bulk| bulk.get("supported"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let most = bulk
            .and_then(|bulk| bulk.get("maxOperations"))
            .and_then(Value::as_u64)
            .and_then(|most| usize::try_from(most).ok())
            .unwrap_or(0);
        Ok((supported && most > 0).then_some(most))
    }

    pub async fn create(&self, endpoint: Endpoint, body: &Value) -> ScimResult<RemoteObject> {
        let answer = self
            .send(reqwest::Method::POST, endpoint.path(), Some(body))
            .await?;
        RemoteObject::from_body(answer)
    }

    /// The object, or `None` when the target no longer has it.
    pub async fn get(&self, endpoint: Endpoint, id: &str) -> ScimResult<Option<RemoteObject>> {
        match self
            .send(reqwest::Method::GET, &object_path(endpoint, id), None)
            .await
        {
            Ok(body) => RemoteObject::from_body(body).map(Some),
            Err(ScimError::Refused { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Replaces the object (PUT); `None` when the target no longer has it.
    pub async fn replace(
        &self,
        endpoint: Endpoint,
        id: &str,
        body: &Value,
    ) -> ScimResult<Option<RemoteObject>> {
        match self
            .send(reqwest::Method::PUT, &object_path(endpoint, id), Some(body))
            .await
        {
            Ok(answer) => RemoteObject::from_body(answer).map(Some),
            Err(ScimError::Refused { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Applies PATCH operations (RFC 7644 §3.5.2), a bounded number per request; false when
    /// the target no longer has the object.
    pub async fn patch(
        &self,
        endpoint: Endpoint,
        id: &str,
        operations: &[Value],
    ) -> ScimResult<bool> {
        for chunk in operations.chunks(PATCH_OPERATIONS) {
            let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": chunk });
            match self
                .send(
                    reqwest::Method::PATCH,
                    &object_path(endpoint, id),
                    Some(&body),
                )
                .await
            {
                Ok(_) => {}
                Err(ScimError::Refused { status: 404, .. }) => return Ok(false),
                Err(other) => return Err(other),
            }
        }
        Ok(true)
    }

    /// Deletes the object; one already gone is fine.
    pub async fn delete(&self, endpoint: Endpoint, id: &str) -> ScimResult<()> {
        match self
            .send(reqwest::Method::DELETE, &object_path(endpoint, id), None)
            .await
        {
            Ok(_) | Err(ScimError::Refused { status: 404, .. }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// The objects whose `attribute` equals `value` (a filter request).
    pub async fn find(
        &self,
        endpoint: Endpoint,
        attribute: &str,
        value: &str,
    ) -> ScimResult<Vec<RemoteObject>> {
        let filter = format!("{attribute} eq \"{}\"", filter_literal(value));
        let query = serde_urlencoded::to_string([("filter", filter.as_str())])
            .map_err(|error| ScimError::Unavailable(error.to_string()))?;
        let answer = self
            .send(
                reqwest::Method::GET,
                &format!("{}?{query}", endpoint.path()),
                None,
            )
            .await?;
        resources_of(&answer)
    }

    /// Every object of the endpoint, by paged list requests (`startIndex`, `count`).
    pub async fn list_all(&self, endpoint: Endpoint) -> ScimResult<Vec<RemoteObject>> {
        let mut found = Vec::new();
        loop {
            let path = format!(
                "{}?startIndex={}&count={PAGE_SIZE}",
                endpoint.path(),
                found.len() + 1
            );
            let answer = self.send(reqwest::Method::GET, &path, None).await?;
            let page = resources_of(&answer)?;
            let total = answer
                .get("totalResults")
                .and_then(Value::as_u64)
                .and_then(|total| usize::try_from(total).ok())
                .unwrap_or(0);
            let empty = page.is_empty();
            found.extend(page);
            if empty || found.len() >= total {
                return Ok(found);
            }
        }
    }

    /// Sends writes in one Bulk request; each gets its own outcome, in order.
    pub async fn bulk(
        &self,
        endpoint: Endpoint,
        writes: &[BulkWrite],
    ) -> ScimResult<Vec<BulkOutcome>> {
        let operations: Vec<Value> = writes
            .iter()
            .enumerate()
            .map(|(index, write)| match write {
                BulkWrite::Create { body, .. } => json!({
                    "method": "POST", "path": format!("/{}", endpoint.path()),
                    "bulkId": format!("op{index}"), "data": body,
                }),
                BulkWrite::Replace { id, body } => json!({
                    "method": "PUT", "path": format!("/{}", object_path(endpoint, id)),
                    "bulkId": format!("op{index}"), "data": body,
                }),
            })
            .collect();
        let body = json!({ "schemas": [BULK_SCHEMA], "Operations": operations });
        let answer = self
            .send(reqwest::Method::POST, "Bulk", Some(&body))
            .await?;
        let results = answer
            .get("Operations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(writes
            .iter()
            .enumerate()
            .map(|(index, write)| {
                let bulk_id = format!("op{index}");
                let result = results
                    .iter()
                    .find(|result| result.get("bulkId").and_then(Value::as_str) == Some(&bulk_id));
                bulk_outcome(write, result)
            })
            .collect())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> ScimResult<Value> {
        (self.pacer)().await;
        let url = format!("{}/{path}", self.base_url);
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::ACCEPT, CONTENT_TYPE);
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|error| ScimError::Unavailable(error.to_string()))?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|error| ScimError::Unavailable(describe_transport_error(&error)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|error| ScimError::Unavailable(describe_transport_error(&error)))?;
        let answer: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(answer);
        }
        Err(status_error(status.as_u16(), retry_after, &answer))
    }
}

fn status_error(status: u16, retry_after: Option<u64>, answer: &Value) -> ScimError {
    let detail = answer
        .get("detail")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        429 => ScimError::RateLimited { retry_after },
        409 => ScimError::Conflict(detail),
        // A wrong or expired token stops every job alike; once the admin fixes it, the
        // outbox should carry on by itself rather than wait for each job to be retried.
        401 | 403 => ScimError::Unavailable(format!(
            "{status}: the target refused the bearer token ({detail})"
        )),
        500..=599 => ScimError::Unavailable(format!("{status}: {detail}")),
        // 408 is a timeout, and 3xx means a proxy or a wrong URL the admin fixes: both
        // are worth another try rather than a permanent failure.
        408 | 300..=399 => ScimError::Unavailable(format!("{status}: {detail}")),
        _ => ScimError::Refused { status, detail },
    }
}

fn bulk_outcome(write: &BulkWrite, result: Option<&Value>) -> BulkOutcome {
    let Some(result) = result else {
        return BulkOutcome::Failed(ScimError::Unavailable(
            "the Bulk answer left out an operation".into(),
        ));
    };
    let status = result
        .get("status")
        .and_then(|status| match status {
            Value::String(text) => text.parse::<u16>().ok(),
            other => other.as_u64().and_then(|n| u16::try_from(n).ok()),
        })
        .unwrap_or(500);
    if (200..300).contains(&status) {
        let from_location = result
            .get("location")
            .and_then(Value::as_str)
            .and_then(|location| location.rsplit('/').next())
            .map(str::to_string);
        let id = match write {
            BulkWrite::Replace { id, .. } => Some(id.clone()),
            BulkWrite::Create { .. } => from_location,
        };
        return match id {
            Some(id) if !id.is_empty() => BulkOutcome::Done(id),
            _ => BulkOutcome::Failed(ScimError::Unavailable(
                "the Bulk answer has no location".into(),
            )),
        };
    }
    let response = result.get("response").cloned().unwrap_or(Value::Null);
    BulkOutcome::Failed(status_error(status, None, &response))
}

fn resources_of(answer: &Value) -> ScimResult<Vec<RemoteObject>> {
    answer
        .get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(RemoteObject::from_body)
        .collect()
}

fn object_path(endpoint: Endpoint, id: &str) -> String {
    let id: String =
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!("{}/{id}", endpoint.path())
}

/// A string inside a filter's double quotes (RFC 7644 §3.4.2.2: JSON string rules).
fn filter_literal(value: &str) -> String {
    let quoted = Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "no answer within timeout_seconds".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        error.to_string()
    }
}

/// The JSON of a User.
pub fn user_body(user: &UserState) -> Value {
    let mut body = json!({
        "schemas": [USER_SCHEMA],
        "externalId": user.external_id,
        "userName": user.user_name,
        "name": {
            "familyName": user.family_name,
            "formatted": user.formatted_name(),
        },
        "displayName": user.formatted_name(),
        "emails": [{ "value": user.email, "type": "work", "primary": true }],
        "active": user.active,
    });
    if let Some(given) = &user.given_name {
        body["name"]["givenName"] = json!(given);
    }
    if let Some(entitlements) = &user.entitlements {
        let values: Vec<Value> = entitlements
            .iter()
            .map(|value| json!({ "value": value }))
            .collect();
        body["entitlements"] = Value::Array(values);
    }
    body
}

/// The JSON of a Group with these member ids.
pub fn group_body(group: &GroupState) -> Value {
    let members: Vec<Value> = group
        .members
        .iter()
        .map(|id| json!({ "value": id }))
        .collect();
    json!({
        "schemas": [GROUP_SCHEMA],
        "externalId": group.external_id,
        "displayName": group.display_name,
        "members": members,
    })
}

/// The PATCH operations that make a remote Group's name and members match.
pub fn group_patch(group: &GroupState, remote: &RemoteObject) -> Vec<Value> {
    let mut operations = Vec::new();
    let remote_name = remote.body.get("displayName").and_then(Value::as_str);
    if remote_name != Some(group.display_name.as_str())
        || remote.external_id() != Some(&group.external_id)
    {
        operations.push(json!({
            "op": "replace",
            "value": { "displayName": group.display_name, "externalId": group.external_id },
        }));
    }
    let present = remote_members(&remote.body);
    let missing: Vec<Value> = group
        .members
        .iter()
        .filter(|id| !present.contains(*id))
        .map(|id| json!({ "value": id }))
        .collect();
    for chunk in missing.chunks(PATCH_OPERATIONS) {
        operations.push(json!({ "op": "add", "path": "members", "value": chunk }));
    }
    for extra in present.iter().filter(|id| !group.members.contains(*id)) {
        operations.push(json!({
            "op": "remove",
            "path": format!("members[value eq \"{}\"]", filter_literal(extra)),
        }));
    }
    operations
}

/// A configured target: its settings, its client, and whether it supports Bulk (asked
/// once, from its ServiceProviderConfig).
pub struct ScimTarget {
    pub settings: ScimTargetSettings,
    pub client: ScimClient,
    bulk: tokio::sync::OnceCell<Option<usize>>,
}

impl ScimTarget {
    pub fn new(settings: ScimTargetSettings, pacer: Pacer) -> Result<Self, ScimError> {
        Ok(Self {
            client: ScimClient::new(&settings, pacer)?,
            settings,
            bulk: tokio::sync::OnceCell::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// Operations per Bulk request (at most `max_batch`), or `None` when the target does
    /// not support Bulk. Asked again after a failure to ask.
    pub async fn bulk_operations(&self) -> ScimResult<Option<usize>> {
        let most = self
            .bulk
            .get_or_try_init(|| self.client.bulk_limit())
            .await?;
        let max_batch = usize::try_from(self.settings.max_batch).unwrap_or(1);
        Ok(most
            .map(|most| most.min(max_batch))
            .filter(|most| *most > 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classed_as_the_outbox_needs_them() {
        let detail = json!({ "detail": "attribute 'emails' is malformed" });
        let refused = status_error(400, None, &detail);
        assert!(
            matches!(&refused, ScimError::Refused { status: 400, detail } if detail == "attribute 'emails' is malformed"),
            "400 is a refusal with the target's detail, not {refused:?}"
        );
        assert!(matches!(
            status_error(429, Some(60), &Value::Null),
            ScimError::RateLimited {
                retry_after: Some(60)
            }
        ));
        assert!(matches!(
            status_error(409, None, &detail),
            ScimError::Conflict(_)
        ));
        for transient in [401, 403, 408, 500, 502, 503] {
            assert!(
                matches!(
                    status_error(transient, None, &Value::Null),
                    ScimError::Unavailable(_)
                ),
                "{transient} is worth another try"
            );
        }
    }

    #[test]
    fn each_bulk_operation_gets_its_own_outcome() {
        let create = BulkWrite::Create {
            external_id: "p1".into(),
            body: Value::Null,
        };
        let done = json!({ "status": "201", "location": "https://idp/v2/Users/abc" });
        assert!(matches!(bulk_outcome(&create, Some(&done)), BulkOutcome::Done(id) if id == "abc"));
        let taken = json!({ "status": "409", "response": { "detail": "taken" } });
        assert!(matches!(
            bulk_outcome(&create, Some(&taken)),
            BulkOutcome::Failed(ScimError::Conflict(_))
        ));
        assert!(matches!(
            bulk_outcome(&create, None),
            BulkOutcome::Failed(ScimError::Unavailable(_))
        ));
        assert_eq!(filter_literal("o\"brien\\"), "o\\\"brien\\\\");
    }
}
