//! The site-wide LDAP drift page, for site admins: every account, organisation group and
//! resource group whose entry differs from what the portal expects, and every entry under
//! Roster's bases it does not know, grouped by kind. Each is repaired on its own, or all at
//! once within `reconcile.max_change_percent`; both ask first.

use super::*;
use crate::jobs::ldap_drift::{DriftItem, DriftReport, Subject};
use crate::usecases::Actor;
use crate::usecases::reconcile::{self, ReconcileError, RepairOutcome};
use crate::web::confirm::{Confirmation, count_of};

impl From<ReconcileError> for WebError {
    fn from(error: ReconcileError) -> Self {
        match error {
            ReconcileError::TooLarge { .. } | ReconcileError::NotDrifting(_) => {
                WebError::Conflict(error.to_string())
            }
            ReconcileError::Drift(error) => {
                WebError::Unavailable(format!("LDAP could not be compared with Roster: {error}"))
            }
            ReconcileError::Store(error) => error.into(),
        }
    }
}

struct ItemRow {
    name: String,
    difference: String,
    repair: String,
}

struct KindSection {
    subject: &'static str,
    label: &'static str,
    rows: Vec<ItemRow>,
}

#[derive(Template)]
#[template(path = "admin/drift.html")]
struct DriftPage {
    layout: Layout,
    notice: Option<String>,
    /// Why LDAP could not be compared, when it could not.
    unreachable: Option<String>,
    entries: usize,
    total: usize,
    sections: Vec<KindSection>,
    max_change_percent: u32,
}

fn repair_link(item: &DriftItem) -> String {
    format!(
        "/admin/drift/repair?subject={}&name={}",
        item.subject.as_str(),
        query_value(&item.name)
    )
}

fn sections_of(report: &DriftReport) -> Vec<KindSection> {
    Subject::ALL
        .into_iter()
        .map(|subject| KindSection {
            subject: subject.as_str(),
            label: match subject {
                Subject::Account => "Accounts",
                Subject::Group => "Organisation groups",
                Subject::Resource => "Resource groups",
                Subject::Unknown => "Entries Roster does not know",
            },
            rows: report
                .items
                .iter()
                .filter(|item| item.subject == subject)
                .map(|item| ItemRow {
                    name: item.name.clone(),
                    difference: item.difference(),
                    repair: repair_link(item),
                })
                .collect(),
        })
        .filter(|section| !section.rows.is_empty())
        .collect()
}

#[derive(Deserialize)]
pub struct DriftQuery {
    done: Option<String>,
}

pub async fn drift(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<DriftQuery>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let (report, unreachable) = match reconcile::drift_report(&ctx).await {
        Ok(report) => (report, None),
        Err(ReconcileError::Drift(error)) => (DriftReport::default(), Some(error.to_string())),
        Err(other) => return Err(other.into()),
    };
    let generic = query
        .done
        .as_deref()
        .filter(|code| *code == "repaired")
        .map(|_| "The repair was made.");
    render(&DriftPage {
        layout: Layout::for_user(&user)?,
        notice: crate::web::notice::take(&user.session, query.done.as_deref(), generic),
        unreachable,
        entries: report.entries,
        total: report.items.len(),
        sections: sections_of(&report),
        max_change_percent: ctx.settings.reconcile.max_change_percent,
    })
}

/// One item, as the links and forms name it.
/// Fields default to empty so the permission is checked before the input.
#[derive(Deserialize)]
pub struct ItemForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    name: String,
}

fn subject_of(form: &ItemForm) -> Result<Subject, WebError> {
    let subject = Subject::parse(&form.subject).ok_or_else(|| {
        WebError::BadRequest("subject must be account, group, resource or unknown".into())
    })?;
    if form.name.is_empty() {
        return Err(WebError::BadRequest(
            "name the account, group or entry to repair".into(),
        ));
    }
    Ok(subject)
}

/// What the repair of `item` does, in words.
fn consequence(item: &DriftItem) -> String {
    match item.subject {
        Subject::Account => format!(
            "The LDAP entry of {} and its private group will be rewritten from Roster (the attributes Roster owns; others are kept).",
            item.name
        ),
        Subject::Group | Subject::Resource => format!(
            "The group {} will be rewritten from Roster: its gidNumber and exactly the members Roster expects.",
            item.name
        ),
        Subject::Unknown => format!(
            "The entry {} will be deleted from LDAP. It cannot be brought back from Roster.",
            item.name
        ),
    }
}

/// `GET /admin/drift/repair?subject=…&name=…`: asks before repairing one item, read afresh.
pub async fn confirm_repair(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<ItemForm>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let subject = subject_of(&query)?;
    let item = crate::jobs::ldap_drift::check(&ctx, subject, &query.name)
        .await
        .map_err(ReconcileError::from)?
        .ok_or_else(|| WebError::from(reconcile::not_drifting(subject)))?;
    Confirmation {
        layout: Layout::for_user(&user)?,
        question: format!("Repair {} {}?", subject.label().to_lowercase(), item.name),
        consequences: vec![format!("Now: {}.", item.difference()), consequence(&item)],
        action: "/admin/drift/repair".into(),
        hidden: vec![
            ("subject", subject.as_str().to_string()),
            ("name", item.name.clone()),
        ],
        button: if subject == Subject::Unknown {
            "Yes, delete the entry"
        } else {
            "Yes, repair it"
        },
        cancel: "/admin/drift".into(),
    }
    .render()
}

fn done(user: &SignedIn, text: String) -> HttpResponse {
    crate::web::notice::keep(&user.session, "repaired", text);
    see_other("/admin/drift?done=repaired")
}

fn outcome_text(outcome: &RepairOutcome) -> String {
    let mut text = format!("Repaired {}.", count_of(outcome.repaired, "item"));
    if !outcome.failed.is_empty() {
        text.push_str(&format!(" Not repaired: {}.", outcome.failed.join("; ")));
    }
    text
}

pub async fn repair(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<ItemForm>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let subject = subject_of(&form)?;
    let ip = crate::web::audit_ip(&req, &ctx);
    let outcome = reconcile::repair_item(
        &ctx,
        Actor::Person(&user.person.id),
        ip.as_deref(),
        subject,
        &form.name,
    )
    .await?;
    Ok(done(
        &user,
        format!(
            "{} {}: {}",
            subject.label(),
            form.name,
            outcome_text(&outcome)
        ),
    ))
}

/// `GET /admin/drift/repair-all`: asks first, or says at once that the threshold refuses.
pub async fn confirm_repair_all(
    ctx: web::Data<AppContext>,
    user: SignedIn,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    let report = reconcile::drift_report(&ctx).await?;
    if report.items.is_empty() {
        return Err(WebError::Conflict(
            "LDAP is in step with Roster: there is nothing to repair.".into(),
        ));
    }
    reconcile::check_threshold(&report, ctx.settings.reconcile.max_change_percent)?;
    let counts = report.counts();
    let mut consequences = vec![format!(
        "{} will be repaired: {} missing, {} with other attributes, {} with other members.",
        count_of(report.items.len(), "difference"),
        counts.missing,
        counts.attributes,
        counts.members
    )];
    if counts.unknown > 0 {
        let entries = if counts.unknown == 1 {
            "1 entry".to_string()
        } else {
            format!("{} entries", counts.unknown)
        };
        consequences.push(format!(
            "{entries} Roster does not know will be deleted from LDAP."
        ));
    }
    Confirmation {
        layout: Layout::for_user(&user)?,
        question: format!("Repair all {}?", count_of(report.items.len(), "difference")),
        consequences,
        action: "/admin/drift/repair-all".into(),
        hidden: Vec::new(),
        button: "Yes, repair all",
        cancel: "/admin/drift".into(),
    }
    .render()
}

pub async fn repair_all(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageJobs, None).await?;
    // Made again: only current differences are repaired.
    let report = reconcile::drift_report(&ctx).await?;
    let ip = crate::web::audit_ip(&req, &ctx);
    let outcome = reconcile::repair_all(
        &ctx,
        Actor::Person(&user.person.id),
        ip.as_deref(),
        &report,
        ctx.settings.reconcile.max_change_percent,
    )
    .await?;
    Ok(done(&user, outcome_text(&outcome)))
}
