//! Inviting from a spreadsheet: the upload (on the Invitations page), the preview where the
//! PI unticks rows, the confirmation (idempotent by the batch id the preview hands out), the
//! batch's status page and its refused rows as a CSV.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;

use super::invitations::{InvitationsView, SheetUpload, invitations_page};
use super::{OrgNav, org_actor, org_nav};
use crate::context::AppContext;
use crate::domain::{
    InvitationMessage, MAX_SHEET_BYTES, Permission, SheetError, read_invitation_sheet,
    spreadsheet_safe,
};
use crate::store::organisations::Organisation;
use crate::usecases::invitation_batch::{
    BatchError, BatchIdentity, BatchMode, Plan, PlannedRow, confirm_batch, plan_batch,
};
use crate::web::account::see_other;
use crate::web::error::WebError;
use crate::web::guard;
use crate::web::identity::SignedIn;
use crate::web::pages::{Layout, render, render_with_status};

/// The fields of a multipart form, each read up to `MAX_SHEET_BYTES` (and one byte more, so
/// an oversized file is known as such). `None` for a file that is too large.
async fn multipart_fields(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Option<Vec<(String, Vec<u8>)>>, WebError> {
    // Read only after the guard: a visitor who may not upload learns nothing from the body.
    let mut payload = actix_multipart::Multipart::new(req.headers(), payload);
    let unreadable = || WebError::BadRequest("The upload could not be read.".into());
    let mut fields = Vec::new();
    let mut total = 0;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|_| unreadable())?;
        let name = field.name().unwrap_or_default().to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            total += chunk.len();
            // The sheet, the batch id and one small field per ticked row at most.
            if bytes.len() + chunk.len() > MAX_SHEET_BYTES || total > 2 * MAX_SHEET_BYTES {
                return Ok(None);
            }
            bytes.extend_from_slice(&chunk);
        }
        fields.push((name, bytes));
    }
    Ok(Some(fields))
}

fn field<'f>(fields: &'f [(String, Vec<u8>)], name: &str) -> Option<&'f [u8]> {
    fields
        .iter()
        .find(|(found, _)| found == name)
        .map(|(_, bytes)| bytes.as_slice())
}

/// The personal message of the upload form (and of the preview's confirm form).
fn sheet_message(fields: &[(String, Vec<u8>)]) -> Result<Option<InvitationMessage>, String> {
    let raw = std::str::from_utf8(field(fields, "message").unwrap_or_default())
        .map_err(|_| "The message could not be read as text. Type it again.".to_string())?;
    InvitationMessage::parse_optional("message", raw).map_err(|error| error.message)
}

/// The Invitations page again, with each problem beside its upload field.
async fn refuse_upload(
    ctx: &AppContext,
    user: &SignedIn,
    organisation: &Organisation,
    granted: &guard::Granted,
    status: StatusCode,
    upload: SheetUpload,
) -> Result<HttpResponse, WebError> {
    let page = invitations_page(
        ctx,
        user,
        organisation,
        granted,
        InvitationsView {
            upload,
            ..InvitationsView::default()
        },
    )
    .await?;
    render_with_status(status, &page)
}

fn sheet_status(error: &SheetError) -> StatusCode {
    match error {
        SheetError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

struct PreviewRow {
    line: u64,
    name: String,
    email: String,
    outcome: &'static str,
    what: String,
    /// Whether the row can be ticked (it would write something).
    actionable: bool,
}

#[derive(Template)]
#[template(path = "orgs/batch_preview.html")]
struct PreviewPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    batch_id: String,
    sheet: String,
    /// The personal message, as it will be sent.
    message: Option<String>,
    rows: Vec<PreviewRow>,
    counts: Vec<(&'static str, usize)>,
}

fn preview_rows(planned: &[PlannedRow]) -> Vec<PreviewRow> {
    planned
        .iter()
        .map(|row| PreviewRow {
            line: row.line,
            name: row.name.clone(),
            email: row.email.clone(),
            outcome: row.plan.outcome(),
            what: row.plan.label(),
            actionable: matches!(
                row.plan,
                Plan::Invite { .. } | Plan::Resend { .. } | Plan::Add { .. }
            ),
        })
        .collect()
}

fn plan_counts(planned: &[PlannedRow]) -> Vec<(&'static str, usize)> {
    let count = |outcome: &str| {
        planned
            .iter()
            .filter(|row| row.plan.outcome() == outcome)
            .count()
    };
    vec![
        ("new invitations", count("create")),
        ("invitations resent", count("resend")),
        ("added from the directory", count("add")),
        ("already members (skipped)", count("skip")),
        ("rows with errors", count("error")),
    ]
}

fn batch_error(error: BatchError) -> WebError {
    match error {
        BatchError::DirectoryDown(_) => WebError::Unavailable(
            "The directory cannot be searched right now, so Roster cannot tell who is in it already. Nothing was sent. Try again in a few minutes.".into(),
        ),
        BatchError::Changed => WebError::Conflict(
            "Someone joined or was invited while this batch was being written, so nothing was written. Go back and confirm again.".into(),
        ),
        other => WebError::internal(other),
    }
}

/// `POST /orgs/{org}/invitations/batch`: reads the file and shows what each row will do.
/// Nothing is written or mailed.
pub async fn preview(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ManageInvitations).await?;
    let refuse =
        |status, upload| refuse_upload(&ctx, &user, &organisation, &granted, status, upload);
    let Some(fields) = multipart_fields(&req, payload).await? else {
        let upload = SheetUpload {
            file_error: Some(SheetError::TooLarge.to_string()),
            ..SheetUpload::default()
        };
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, upload).await;
    };
    let file = field(&fields, "file").unwrap_or_default();
    let sheet = if file.is_empty() {
        Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a CSV file to upload.".to_string(),
        ))
    } else {
        read_invitation_sheet(file, ctx.clock.today())
            .map_err(|error| (sheet_status(&error), error.to_string()))
    };
    let message = sheet_message(&fields);
    let (rows, message) = match (sheet, message) {
        (Ok(rows), Ok(message)) => (rows, message),
        (sheet, message) => {
            let status = sheet
                .as_ref()
                .err()
                .map_or(StatusCode::UNPROCESSABLE_ENTITY, |(status, _)| *status);
            let upload = SheetUpload {
                file_error: sheet.err().map(|(_, problem)| problem),
                message: String::from_utf8_lossy(field(&fields, "message").unwrap_or_default())
                    .into_owned(),
                message_error: message.err(),
            };
            return refuse(status, upload).await;
        }
    };
    let ip = crate::web::audit_ip(&req, &ctx);
    let actor = org_actor(&user, &granted, ip.as_deref());
    let planned = plan_batch(&ctx, &organisation, &actor, rows)
        .await
        .map_err(batch_error)?;
    // The file as read (valid UTF-8, checked above), carried by the confirm form.
    let sheet = String::from_utf8_lossy(file);
    let sheet = sheet.strip_prefix('\u{feff}').unwrap_or(&sheet).to_string();
    render(&PreviewPage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "invitations"),
        organisation: &organisation,
        batch_id: uuid::Uuid::new_v4().to_string(),
        sheet,
        message: message.map(|message| message.as_str().to_string()),
        counts: plan_counts(&planned),
        rows: preview_rows(&planned),
    })
}

/// `POST /orgs/{org}/invitations/batch/confirm`: does the ticked rows. The batch id makes a
/// double submit or a refresh find the first confirmation instead of repeating it.
pub async fn confirm(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ManageInvitations).await?;
    let fields = multipart_fields(&req, payload)
        .await?
        .ok_or(WebError::TooLarge)?;
    let batch_id = field(&fields, "batch_id")
        .and_then(|id| std::str::from_utf8(id).ok())
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            WebError::BadRequest("This form has no batch id; upload the file again.".into())
        })?
        .to_string();
    let ticked: HashSet<u64> = fields
        .iter()
        .filter(|(name, _)| name == "line")
        .filter_map(|(_, value)| std::str::from_utf8(value).ok()?.trim().parse().ok())
        .collect();
    let message = sheet_message(&fields)
        .map_err(|problem| WebError::BadRequest(format!("{problem} Upload the file again.")))?;
    let sheet = field(&fields, "sheet").unwrap_or_default();
    let rows = read_invitation_sheet(sheet, ctx.clock.today())
        .map_err(|error| WebError::BadRequest(format!("{error} Upload the file again.")))?;
    // The ticked rows, and the refused ones so the batch records them too.
    let rows = rows
        .into_iter()
        .filter(|row| row.invitee.is_err() || ticked.contains(&row.line))
        .collect();
    let ip = crate::web::audit_ip(&req, &ctx);
    let actor = org_actor(&user, &granted, ip.as_deref());
    let planned = plan_batch(&ctx, &organisation, &actor, rows)
        .await
        .map_err(batch_error)?;
    let confirmed = confirm_batch(
        &ctx,
        &organisation,
        &actor,
        BatchIdentity {
            id: &batch_id,
            idempotency_key: None,
            request_hash: None,
        },
        planned,
        BatchMode::BestEffort,
        message.as_ref(),
    )
    .await
    .map_err(batch_error)?;
    if confirmed.batch.organisation_id != organisation.id {
        return Err(WebError::NotFound);
    }
    let again = if confirmed.fresh { "" } else { "?again=1" };
    Ok(see_other(&format!(
        "/orgs/{}/invitations/batches/{batch_id}{again}",
        organisation.id
    )))
}

struct CreatedRow {
    name: String,
    email: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "orgs/batch_status.html")]
struct StatusPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    batch_id: String,
    again: bool,
    counts: Vec<(&'static str, usize)>,
    mail: crate::store::mail_outbox::DeliveryCounts,
    failures: Vec<(String, String)>,
    created: Vec<CreatedRow>,
    errors: Vec<(u64, String, String)>,
}

#[derive(serde::Deserialize)]
pub struct StatusQuery {
    again: Option<String>,
}

/// The batch of this organisation, or 404.
async fn batch_of(
    ctx: &AppContext,
    organisation: &Organisation,
    batch_id: &str,
) -> Result<crate::store::invitation_batches::StoredBatch, WebError> {
    ctx.store
        .invitation_batch(batch_id)
        .await?
        .filter(|batch| batch.organisation_id == organisation.id)
        .ok_or(WebError::NotFound)
}

/// `GET /orgs/{org}/invitations/batches/{batch}`: what the batch did, and its mail so far.
pub async fn status(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
    query: web::Query<StatusQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, batch_id) = path.into_inner();
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageInvitations).await?;
    let batch = batch_of(&ctx, &organisation, &batch_id).await?;
    let created = ctx
        .store
        .invitations_of_batch(&batch.id)
        .await?
        .into_iter()
        .map(|invitation| CreatedRow {
            name: crate::domain::full_name(invitation.given_name.as_deref(), &invitation.surname),
            email: invitation.email,
            role: invitation.role.label(),
        })
        .collect();
    render(&StatusPage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "invitations"),
        organisation: &organisation,
        again: query.again.is_some(),
        counts: vec![
            ("invitations created", batch.count("created")),
            ("invitations resent", batch.count("resent")),
            ("added from the directory", batch.count("added")),
            ("skipped (already members)", batch.count("skipped")),
            ("rows with errors", batch.count("error")),
        ],
        mail: ctx.store.batch_delivery(&batch.id).await?,
        failures: ctx.store.batch_failures(&batch.id).await?,
        errors: batch
            .results
            .iter()
            .filter(|result| result.outcome == "error")
            .map(|result| {
                (
                    result.index,
                    result.email.clone(),
                    result.message.clone().unwrap_or_default(),
                )
            })
            .collect(),
        created,
        batch_id: batch.id,
    })
}

/// `GET /orgs/{org}/invitations/batches/{batch}/errors.csv`: the refused rows, to fix in
/// the spreadsheet; every cell made safe from formula injection.
pub async fn errors_csv(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, batch_id) = path.into_inner();
    let (organisation, _) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageInvitations).await?;
    let batch = batch_of(&ctx, &organisation, &batch_id).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut write = |record: [String; 4]| {
        writer
            .write_record(record.iter().map(|cell| spreadsheet_safe(cell)))
            .map_err(WebError::internal)
    };
    write([
        "line".into(),
        "email".into(),
        "field".into(),
        "problem".into(),
    ])?;
    for result in batch.results.iter().filter(|r| r.outcome == "error") {
        write([
            result.index.to_string(),
            result.email.clone(),
            result.field.clone().unwrap_or_default(),
            result.message.clone().unwrap_or_default(),
        ])?;
    }
    let body = writer.into_inner().map_err(WebError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"batch-{}-errors.csv\"", batch.id),
        ))
        .body(body))
}
