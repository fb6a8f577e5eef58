//! Account search: by name, email, username or uidNumber, filtered by status, with invitations not accepted yet.

use super::*;

#[derive(Deserialize)]
pub struct AccountsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    page: Option<i64>,
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/accounts.html")]
struct AccountsPage {
    layout: Layout,
    notice: Option<String>,
    query: String,
    status: StatusFilter,
    statuses: &'static [StatusFilter],
    errors: FormErrors,
    people: Vec<Person>,
    /// More matched than the search counts (`SEARCH_COUNT_CAP`).
    more: bool,
    invitations: Vec<InvitationRow>,
    pager: Pager,
}

/// An invitation not accepted yet, as the account search lists it.
struct InvitationRow {
    name: String,
    email: String,
    invited_to: String,
    sent: i64,
    state: &'static str,
}

const INVITATIONS_LISTED: i64 = 50;

impl AccountsPage {
    fn status_of(&self, person: &Person) -> &'static str {
        status_label(person)
    }
}

pub async fn accounts(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<AccountsQuery>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ViewAccounts, None).await?;
    let mut errors = FormErrors::default();
    let text = errors.check(SearchText::parse(&query.q)).flatten();
    let status = StatusFilter::parse(&query.status).unwrap_or_else(|| {
        errors.add(FieldError::new("status", "Choose a status from the list."));
        StatusFilter::Any
    });
    let layout = Layout::for_user(&user)?;
    if !errors.is_empty() {
        return render_with_status(
            StatusCode::BAD_REQUEST,
            &AccountsPage {
                layout,
                notice: None,
                query: query.q.clone(),
                status,
                statuses: &StatusFilter::ALL,
                errors,
                people: Vec::new(),
                more: false,
                invitations: Vec::new(),
                pager: Pager::new(None, ACCOUNTS_PER_PAGE, 0),
            },
        );
    }
    let today = ctx.clock.today_iso();
    let search = |page: i64| AccountSearch {
        text: text.as_ref().map(SearchText::as_str),
        status,
        today: &today,
        limit: ACCOUNTS_PER_PAGE,
        offset: (page - 1) * ACCOUNTS_PER_PAGE,
    };
    let requested = query.page.unwrap_or(1).clamp(1, 1_000_000);
    let mut found = ctx.store.search_accounts(&search(requested)).await?;
    let search_params = format!(
        "q={}&status={}",
        query_value(&query.q),
        query_value(status.as_str())
    );
    let pager = Pager::new(Some(requested), ACCOUNTS_PER_PAGE, found.total)
        .linking_to("/admin/accounts", &search_params);
    if pager.page != requested {
        // Asked for a page past the end: show the last one.
        found = ctx.store.search_accounts(&search(pager.page)).await?;
    }
    let invitations = if status.shows_invitations() && pager.page == 1 {
        let now = ctx.clock.now();
        ctx.store
            .waiting_invitations(text.as_ref().map(SearchText::as_str), INVITATIONS_LISTED)
            .await?
            .into_iter()
            .map(|waiting| {
                let invitation = waiting.invitation;
                InvitationRow {
                    name: match &invitation.given_name {
                        Some(given) => format!("{given} {}", invitation.surname),
                        None => invitation.surname.clone(),
                    },
                    invited_to: waiting
                        .organisation_name
                        .unwrap_or_else(|| invitation.role.label().to_string()),
                    sent: invitation.sent_at.unwrap_or(invitation.created_at),
                    state: if now >= invitation.expires_at {
                        "Expired"
                    } else {
                        "Waiting"
                    },
                    email: invitation.email,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    render(&AccountsPage {
        layout,
        invitations,
        notice: crate::web::notice::take(
            &user.session,
            query.done.as_deref(),
            (query.done.as_deref() == Some("deleted")).then_some(
                "The account was deleted. Its username and uidNumber will never be given to anyone else.",
            ),
        ),
        query: query.q.clone(),
        status,
        statuses: &StatusFilter::ALL,
        errors,
        more: found.more,
        people: found.people,
        pager,
    })
}
