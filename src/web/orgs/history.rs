//! An organisation's audit history, as sentences; `?event=<code>` shows one kind only.

use super::*;
use crate::web::event_sentence::{EventSentence, describe, kind_label};

struct HistoryRow {
    at: i64,
    sentence: EventSentence,
    /// The event's code, kept for scripts and filters (`data-event`).
    event: String,
    client_ip: String,
}

/// A kind of event the filter offers: its code and how it reads.
struct EventKind {
    code: String,
    label: String,
}

#[derive(Template)]
#[template(path = "orgs/history.html")]
struct HistoryPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    rows: Vec<HistoryRow>,
    kinds: Vec<EventKind>,
    /// The kind shown, or "" for all.
    shown: String,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    event: Option<String>,
}

pub async fn history(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ViewOrganisationHistory).await?;
    let shown = query.into_inner().event.unwrap_or_default();
    let events = ctx
        .store
        .audit_of_organisation(&organisation.id, 500)
        .await?;
    let mut codes: Vec<&str> = events.iter().map(|event| event.action.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let kinds = codes
        .into_iter()
        .map(|code| EventKind {
            code: code.to_string(),
            label: kind_label(code),
        })
        .collect();
    let rows = events
        .iter()
        .filter(|event| shown.is_empty() || event.action == shown)
        .map(|event| HistoryRow {
            at: event.occurred_at,
            sentence: describe(event, "Roster"),
            event: event.action.clone(),
            client_ip: event.client_ip.clone().unwrap_or_default(),
        })
        .collect();
    render(&HistoryPage {
        layout: Layout::for_user(&user)?,
        nav: org_nav(&granted, &organisation, "history"),
        organisation: &organisation,
        rows,
        kinds,
        shown,
    })
}
