//! The outboxes, for site admins: directory jobs waiting or failed for good (and retrying
//! one), and the mail outbox's messages, failed ones first.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::context::AppContext;
use crate::domain::Permission;
use crate::store::mail_outbox::DeliveryCounts;
use crate::web::account::see_other;
use crate::web::error::WebError;
use crate::web::guard;
use crate::web::identity::SignedIn;
use crate::web::pages::{Layout, filters, render};

struct JobRow {
    id: String,
    target: String,
    kind: String,
    subject_id: String,
    queued: i64,
    attempts: i64,
    next_attempt: i64,
    last_error: String,
    failed: bool,
}

struct MailRow {
    to: String,
    subject: String,
    state: &'static str,
    queued: i64,
    attempts: i64,
    last_error: String,
    caused_by: String,
}

/// A SCIM target's section of the outbox.
struct TargetJobs {
    name: String,
    pending: i64,
    failed: i64,
    rows: Vec<JobRow>,
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    layout: Layout,
    notice: Option<&'static str>,
    /// The directory's jobs.
    rows: Vec<JobRow>,
    targets: Vec<TargetJobs>,
    mail_counts: DeliveryCounts,
    mails: Vec<MailRow>,
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
    let all: Vec<JobRow> = ctx
        .store
        .pending_jobs(500)
        .await?
        .into_iter()
        .map(|job| JobRow {
            target: job.target,
            queued: job.created_at,
            next_attempt: job.next_attempt_at,
            last_error: job.last_error.unwrap_or_default(),
            id: job.id,
            kind: job.kind,
            subject_id: job.subject_id,
            attempts: job.attempts,
            failed: job.failed,
        })
        .collect();
    let (rows, mut scim_rows): (Vec<JobRow>, Vec<JobRow>) =
        all.into_iter().partition(|row| row.target.is_empty());
    let mut targets = Vec::new();
    for target in ctx.scim.iter() {
        let (pending, failed) = ctx.store.scim_job_counts(target.name()).await?;
        let (mine, others) = scim_rows
            .into_iter()
            .partition(|row| row.target == target.name());
        scim_rows = others;
        targets.push(TargetJobs {
            name: target.name().to_string(),
            pending,
            failed,
            rows: mine,
        });
    }
    let mails = ctx
        .store
        .mail_entries(200)
        .await?
        .into_iter()
        .map(|mail| MailRow {
            to: mail.to,
            subject: mail.subject,
            state: mail.state.label(),
            queued: mail.created_at,
            attempts: mail.attempts,
            last_error: mail.last_error.unwrap_or_default(),
            caused_by: mail.caused_by.unwrap_or_else(|| "Roster".into()),
        })
        .collect();
    render(&JobsPage {
        mail_counts: ctx.store.mail_counts().await?,
        mails,
        layout: Layout::for_user(&user)?,
        notice: match query.done.as_deref() {
            Some("retried") => Some("The job was retried; see below whether it is still waiting."),
            _ => None,
        },
        rows,
        targets,
    })
}

/// Runs a waiting or failed job now (after its cause was fixed, say), audited.
pub async fn retry(
    req: actix_web::HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let ip = crate::web::audit_ip(&req, &ctx);
    let actor = crate::usecases::staff_actions::StaffActor {
        person: &user.person,
        client_ip: ip.as_deref(),
    };
    crate::usecases::staff_actions::retry_job(&ctx, actor, &path).await?;
    Ok(see_other("/admin/jobs?done=retried"))
}
