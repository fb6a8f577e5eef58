//! `POST /api/v1/orgs/{short}/invitations` with many people: `{"invitations": […]}` (up to
//! 5,000) or a `text/csv` body with the spreadsheet's columns. The same plan and
//! confirmation as the Invitations page's upload (`usecases::invitation_batch`):
//! `?dry_run=true` answers the plan and writes nothing, `mode=atomic` does nothing when any
//! item is refused, and an `Idempotency-Key` replays the first answer for 24 hours.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::invitations::{NewInvitationBody, create_one};
use super::problem::ItemError;
use super::{ApiCaller, ApiError};
use crate::context::AppContext;
use crate::domain::{
    InvitationMessage, InviteeFields, MAX_SHEET_BYTES, Permission, SheetError, SheetRow,
    read_invitation_items, read_invitation_sheet,
};
use crate::store::invitation_batches::{ItemResult, StoredBatch};
use crate::usecases::invitation_batch::{
    BatchError, BatchIdentity, BatchMode, Plan, PlannedRow, confirm_batch, plan_batch,
};

/// How long an `Idempotency-Key` replays its first answer.
const KEY_SECONDS: i64 = 86_400;

/// Many people to invite, as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationBatchBody {
    /// Up to 5,000 people: `surname` and `email` required; `given_name`, `role` (member,
    /// manager, owner) and `end_date` (YYYY-MM-DD) optional.
    #[schema(value_type = Vec<Object>)]
    pub invitations: Vec<InviteeFields>,
    /// A personal message sent with every new invitation of the batch (at most 1,000
    /// characters, plain text). A resent invitation repeats the message it was first sent
    /// with.
    #[schema(max_length = 1000)]
    pub message: Option<String>,
}

/// One invitation, or a batch of them.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum InvitationRequest {
    One(NewInvitationBody),
    Many(InvitationBatchBody),
}

#[derive(Debug, Deserialize)]
pub struct BatchQuery {
    /// Answer what would happen, writing nothing.
    #[serde(default)]
    dry_run: bool,
    /// `best_effort` (default) or `atomic`.
    mode: Option<String>,
}

/// What happened to one item (or, in a dry run, what would).
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemResult {
    /// The item's position in `invitations` (from 0); for a CSV body, its line in the file
    /// (the header is line 1).
    pub index: u64,
    pub email: String,
    /// `created`, `resent`, `added`, `skipped` or `error`; in a dry run `create`, `resend`,
    /// `add`, `skip` or `error`.
    pub outcome: String,
    /// The invitation's id (created, resent), or the added person's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAnswer {
    /// The batch's id; absent in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    pub dry_run: bool,
    pub mode: String,
    pub results: Vec<BatchItemResult>,
}

fn from_stored(result: &ItemResult) -> BatchItemResult {
    BatchItemResult {
        index: result.index,
        email: result.email.clone(),
        outcome: result.outcome.clone(),
        id: result.id.clone(),
        field: result.field.clone(),
        message: result.message.clone(),
    }
}

fn from_plan(row: &PlannedRow) -> BatchItemResult {
    let (id, field, message) = match &row.plan {
        Plan::Resend { invitation_id, .. } => (Some(invitation_id.clone()), None, None),
        Plan::Add { person, .. } => (
            None,
            None,
            Some(format!("in the directory as {}", person.uid)),
        ),
        Plan::Refused(error) => (
            None,
            Some(error.field.to_string()),
            Some(error.message.clone()),
        ),
        Plan::Invite { .. } | Plan::AlreadyMember => (None, None, None),
    };
    BatchItemResult {
        index: row.line,
        email: row.email.clone(),
        outcome: row.plan.outcome().into(),
        id,
        field,
        message,
    }
}

fn mode_name(mode: BatchMode) -> &'static str {
    match mode {
        BatchMode::BestEffort => "best_effort",
        BatchMode::Atomic => "atomic",
    }
}

/// The media type without parameters, lower-cased.
fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters.".into(),
        ));
    }
    Ok(Some(key.to_string()))
}

fn sheet_error(error: SheetError) -> ApiError {
    match error {
        SheetError::TooLarge => ApiError::TooLarge(MAX_SHEET_BYTES),
        other => ApiError::Unprocessable {
            detail: other.to_string(),
            errors: Vec::new(),
        },
    }
}

fn batch_error(error: BatchError) -> ApiError {
    match error {
        BatchError::DirectoryDown(_) => ApiError::Unavailable(
            "The directory cannot be searched right now; nothing was done. Try again later."
                .into(),
        ),
        BatchError::Changed => ApiError::Conflict(
            "The organisation changed while the batch was written; nothing was done. Send it again."
                .into(),
        ),
        BatchError::Refused(planned) => ApiError::Unprocessable {
            detail: "Some items cannot be done and mode is atomic; nothing was done.".into(),
            errors: planned
                .iter()
                .filter_map(|row| match &row.plan {
                    Plan::Refused(error) => Some(ItemError {
                        index: usize::try_from(row.line).unwrap_or(usize::MAX),
                        field: format!("invitations[{}].{}", row.line, error.field),
                        message: error.message.clone(),
                    }),
                    _ => None,
                })
                .collect(),
        },
        other => ApiError::internal(other),
    }
}

#[utoipa::path(
    post, path = "/api/v1/orgs/{short}/invitations", tag = "invitations",
    params(
        ("short" = String, Path),
        ("dry_run" = Option<bool>, Query, description = "Batch only: answer what would happen, writing nothing."),
        ("mode" = Option<String>, Query, description = "Batch only: `best_effort` (default) or `atomic`."),
        ("Idempotency-Key" = Option<String>, Header, description = "Batch only: a retry with the same key within 24 hours gets the first answer, and nothing is done twice.")
    ),
    request_body(
        description = "One invitation, `{\"invitations\": [...]}` with up to 5,000, or a CSV file with the columns surname, given name, email, role and end date.",
        content((InvitationRequest = "application/json"), (String = "text/csv"))
    ),
    responses(
        (status = 201, description = "One invitation created", body = super::invitations::InvitationBody, headers(("Location" = String))),
        (status = 200, description = "A batch: what happened to each item (or would, in a dry run)", body = BatchAnswer),
        (status = 422, body = super::problem::Problem),
        (status = 415, body = super::problem::Problem)
    ),
    security(("bearer" = ["invitations.manage"]))
)]
pub async fn create(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    caller: ApiCaller,
    short: web::Path<String>,
    query: web::Query<BatchQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let organisation = caller
        .organisation(&ctx, &short, Permission::ManageInvitations)
        .await?;
    let body = read_body(payload).await?;
    let today = ctx.clock.today();
    let media_type = media_type(&req);
    let (rows, message) = match media_type.as_str() {
        "text/csv" => (
            read_invitation_sheet(&body, today).map_err(sheet_error)?,
            None,
        ),
        "application/json" => {
            let value: serde_json::Value = serde_json::from_slice(&body).map_err(|error| {
                ApiError::BadRequest(format!("The body is not valid JSON: {error}"))
            })?;
            if value.get("invitations").is_none() {
                let one: NewInvitationBody = serde_json::from_value(value).map_err(|error| {
                    ApiError::BadRequest(format!(
                        "The body is not valid JSON for this request: {error}"
                    ))
                })?;
                return create_one(&ctx, &caller, &organisation, one).await;
            }
            let batch: InvitationBatchBody = serde_json::from_value(value).map_err(|error| {
                ApiError::BadRequest(format!("The batch is not valid: {error}"))
            })?;
            let message = InvitationMessage::parse_optional(
                "message",
                batch.message.as_deref().unwrap_or(""),
            )
            .map_err(|error| ApiError::Unprocessable {
                detail: "The batch's message is invalid; nothing was sent.".into(),
                errors: vec![ItemError {
                    index: 0,
                    field: "message".into(),
                    message: error.message,
                }],
            })?;
            (
                read_invitation_items(&batch.invitations, today).map_err(sheet_error)?,
                message,
            )
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "application/json or text/csv",
            ));
        }
    };
    let mode = match query.mode.as_deref() {
        None | Some("best_effort") => BatchMode::BestEffort,
        Some("atomic") => BatchMode::Atomic,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "mode must be best_effort or atomic.".into(),
            ));
        }
    };
    let key = idempotency_key(&req)?;
    // What the key stands for: the same body, type and mode.
    let request_hash = crate::domain::sha256_hex(
        &[
            mode_name(mode).as_bytes(),
            b"\n",
            media_type.as_bytes(),
            b"\n",
            &body,
        ]
        .concat(),
    );
    if query.dry_run {
        return dry_run(&ctx, &caller, &organisation, rows, mode).await;
    }
    if let Some(key) = &key {
        let earlier = ctx.store.batch_by_key(Some(&caller.client_id), key).await?;
        if let Some(earlier) = earlier.filter(|b| b.created_at > ctx.clock.now() - KEY_SECONDS) {
            return replay(&earlier, &request_hash, mode);
        }
    }
    let actor = caller.org_actor();
    let planned = plan_batch(&ctx, &organisation, &actor, rows)
        .await
        .map_err(batch_error)?;
    let batch_id = uuid::Uuid::new_v4().to_string();
    let confirmed = confirm_batch(
        &ctx,
        &organisation,
        &actor,
        BatchIdentity {
            id: &batch_id,
            idempotency_key: key.as_deref(),
            request_hash: Some(&request_hash),
        },
        planned,
        mode,
        message.as_ref(),
    )
    .await
    .map_err(batch_error)?;
    if !confirmed.fresh {
        // The same key arrived twice at once: this one waited for the first.
        return replay(&confirmed.batch, &request_hash, mode);
    }
    Ok(answer(&confirmed.batch, mode, false))
}

async fn dry_run(
    ctx: &AppContext,
    caller: &ApiCaller,
    organisation: &crate::store::organisations::Organisation,
    rows: Vec<SheetRow>,
    mode: BatchMode,
) -> Result<HttpResponse, ApiError> {
    let planned = plan_batch(ctx, organisation, &caller.org_actor(), rows)
        .await
        .map_err(batch_error)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(BatchAnswer {
            batch_id: None,
            dry_run: true,
            mode: mode_name(mode).into(),
            results: planned.iter().map(from_plan).collect(),
        }))
}

/// The first answer for a key, or 422 when the key came with another request.
fn replay(
    earlier: &StoredBatch,
    request_hash: &str,
    mode: BatchMode,
) -> Result<HttpResponse, ApiError> {
    if earlier.request_hash.as_deref() != Some(request_hash) {
        return Err(ApiError::Unprocessable {
            detail: "This Idempotency-Key was used with a different request in the last 24 hours; nothing was done. Use a new key for a new batch.".into(),
            errors: Vec::new(),
        });
    }
    Ok(answer(earlier, mode, true))
}

fn answer(batch: &StoredBatch, mode: BatchMode, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(BatchAnswer {
        batch_id: Some(batch.id.clone()),
        dry_run: false,
        mode: mode_name(mode).into(),
        results: batch.results.iter().map(from_stored).collect(),
    })
}

/// The body, up to a spreadsheet's size (a JSON list of 5,000 people fits too).
async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    const LIMIT: usize = MAX_SHEET_BYTES + 64 * 1024;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::BadRequest("The body could not be read.".into()))?;
        if body.len() + chunk.len() > LIMIT {
            return Err(ApiError::TooLarge(LIMIT));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
