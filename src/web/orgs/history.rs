//! An organisation's audit history.

use super::*;

struct HistoryRow {
    at: i64,
    actor: String,
    action: String,
    details: String,
    client_ip: String,
}

#[derive(Template)]
#[template(path = "orgs/history.html")]
struct HistoryPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    rows: Vec<HistoryRow>,
}

pub async fn history(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ViewOrganisationHistory).await?;
    let rows = ctx
        .store
        .audit_of_organisation(&organisation.id, 500)
        .await?
        .into_iter()
        .map(|event| HistoryRow {
            at: event.occurred_at,
            actor: event.actor_name.unwrap_or_else(|| "command line".into()),
            action: event.action,
            details: event.details,
            client_ip: event.client_ip.unwrap_or_default(),
        })
        .collect();
    render(&HistoryPage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "history"),
        organisation: &organisation,
        rows,
    })
}
