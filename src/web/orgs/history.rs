//! An organisation's audit history.

use super::*;
use crate::web::event_sentence::{EventSentence, describe};

struct HistoryRow {
    at: i64,
    sentence: EventSentence,
    /// The event's code, kept for scripts and filters (`data-event`).
    event: String,
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
            sentence: describe(&event, "Roster"),
            event: event.action,
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
