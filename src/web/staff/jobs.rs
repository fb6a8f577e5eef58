//! The directory outbox, for site admins: jobs waiting or failed for good, and retrying one.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::context::{AppContext, now};
use crate::domain::Permission;
use crate::usecases::invitations::format_date;
use crate::web::account::see_other;
use crate::web::error::WebError;
use crate::web::guard;
use crate::web::identity::SignedIn;
use crate::web::pages::{Layout, render};

struct JobRow {
    id: String,
    kind: String,
    subject_id: String,
    queued: String,
    attempts: i64,
    next_attempt: String,
    last_error: String,
    failed: bool,
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    layout: Layout,
    notice: Option<&'static str>,
    rows: Vec<JobRow>,
}

#[derive(Deserialize)]
pub struct JobsQuery {
    done: Option<String>,
}

pub async fn jobs(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<JobsQuery>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let rows = ctx
        .store
        .pending_jobs(500)
        .await?
        .into_iter()
        .map(|job| JobRow {
            queued: format_date(job.created_at),
            next_attempt: format_date(job.next_attempt_at),
            last_error: job.last_error.unwrap_or_default(),
            id: job.id,
            kind: job.kind,
            subject_id: job.subject_id,
            attempts: job.attempts,
            failed: job.failed,
        })
        .collect();
    render(&JobsPage {
        layout: Layout::for_user(&user)?,
        notice: match query.done.as_deref() {
            Some("retried") => Some("The job was retried; see below whether it is still waiting."),
            _ => None,
        },
        rows,
    })
}

/// Runs a waiting job now (after its cause was fixed, say), audited.
pub async fn retry(
    req: actix_web::HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let ip = crate::web::client_ip(&req, ctx.settings.server.trust_forwarded_for)
        .map(|ip| ip.to_string());
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let (kind, subject_id) = ctx
        .store
        .make_job_due(&path, now())
        .await?
        .ok_or(WebError::NotFound)?;
    ctx.store
        .record_audit(
            &crate::store::audit::AuditEvent {
                actor_id: Some(&user.person.id),
                action: "job.retried",
                subject_id: Some(&subject_id),
                client_ip: ip.as_deref(),
                details: format!("retried {} job {}", kind.as_str(), path.as_str()),
                ..Default::default()
            },
            now(),
        )
        .await?;
    crate::jobs::apply_now(&ctx, kind, &subject_id).await;
    Ok(see_other("/admin/jobs?done=retried"))
}
