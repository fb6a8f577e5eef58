//! A SCIM target's drift page, for site admins: every difference between the target's
//! Users and Groups and what the portal expects, each repairable on its own, or all at
//! once. The report is made when the page is asked for (paged list requests to the
//! target), so it is always current.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::context::AppContext;
use crate::domain::Permission;
use crate::jobs::scim_drift::{DriftItem, DriftReport};
use crate::store::scim::ScimKind;
use crate::usecases::Actor;
use crate::usecases::provisioning::{self, ProvisioningError};
use crate::web::account::see_other;
use crate::web::error::WebError;
use crate::web::guard;
use crate::web::identity::SignedIn;
use crate::web::pages::{Layout, render};

struct ItemRow {
    kind: &'static str,
    local_id: String,
    name: String,
    problem: String,
}

#[derive(Template)]
#[template(path = "admin/scim.html")]
struct DriftPage {
    layout: Layout,
    target: String,
    notice: Option<String>,
    /// Why the target could not be compared, when it could not.
    unreachable: Option<String>,
    report: DriftReport,
    rows: Vec<ItemRow>,
    pending: i64,
    failed: i64,
}

#[derive(Deserialize)]
pub struct DriftQuery {
    repaired: Option<usize>,
}

impl From<ProvisioningError> for WebError {
    fn from(error: ProvisioningError) -> Self {
        match error {
            ProvisioningError::UnknownTarget(_) => WebError::NotFound,
            ProvisioningError::Store(error) => error.into(),
            ProvisioningError::Drift(error) => WebError::Unavailable(error.to_string()),
        }
    }
}

fn kind_name(kind: ScimKind) -> &'static str {
    match kind {
        ScimKind::User => "User",
        ScimKind::Group => "Group",
    }
}

pub async fn drift(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<DriftQuery>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let name = path.into_inner();
    provisioning::target(&ctx, &name)?;
    let (report, unreachable) = match provisioning::drift_report(&ctx, &name).await {
        Ok(report) => (report, None),
        Err(ProvisioningError::Drift(error)) => (DriftReport::default(), Some(error.to_string())),
        Err(other) => return Err(other.into()),
    };
    let rows = report
        .items
        .iter()
        .map(|item| ItemRow {
            kind: kind_name(item.kind),
            local_id: item.local_id.clone(),
            name: item.name.clone(),
            problem: item.describe(),
        })
        .collect();
    let (pending, failed) = ctx.store.scim_job_counts(&name).await?;
    render(&DriftPage {
        layout: Layout::for_user(&user)?,
        // The report below is made afresh, so it shows what is left.
        notice: query
            .repaired
            .map(|ran| format!("Repair done: {ran} job(s) ran.")),
        target: name,
        unreachable,
        report,
        rows,
        pending,
        failed,
    })
}

#[derive(Deserialize)]
pub struct RepairForm {
    /// `User` or `Group`, with `local_id`, for one item; absent for all of them.
    kind: Option<String>,
    local_id: Option<String>,
}

/// Repairs one difference, or all of them: the report is made again, so only current
/// differences are repaired, and the repair is audited.
pub async fn repair(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<RepairForm>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let name = path.into_inner();
    let report = provisioning::drift_report(&ctx, &name).await?;
    let chosen: Vec<DriftItem> = match (&form.kind, &form.local_id) {
        (None, None) => report.items,
        (Some(kind), Some(local_id)) => report
            .items
            .into_iter()
            .filter(|item| kind_name(item.kind) == kind && &item.local_id == local_id)
            .collect(),
        _ => {
            return Err(WebError::BadRequest(
                "name both the kind and the id of the item to repair".into(),
            ));
        }
    };
    let ip = crate::web::audit_ip(&req, &ctx);
    let ran = if chosen.is_empty() {
        0
    } else {
        provisioning::repair_drift(
            &ctx,
            Actor::Person(&user.person.id),
            ip.as_deref(),
            &name,
            &chosen,
        )
        .await?
    };
    Ok(see_other(&format!("/admin/scim/{name}?repaired={ran}")))
}
