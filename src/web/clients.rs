//! API clients: an organisation's page for its owners (`/orgs/{org}/clients`) and the site
//! administrators' page for every client (`/admin/clients`). Both create clients through
//! `usecases::clients`, which decides what a client may carry.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::context::AppContext;
use crate::domain::{AllowedNetworks, ClientName, EndDate, Permission, Scopes};
use crate::store::clients::ApiClient;
use crate::store::organisations::Organisation;
use crate::usecases::Actor;
use crate::usecases::clients::{
    ClientCreator, ClientError, ClientRequest, create_client, holdable_scopes, revoke_client,
};
use crate::web::account::see_other;
use crate::web::error::WebError;
use crate::web::guard;
use crate::web::identity::SignedIn;
use crate::web::orgs::{OrgNav, org_nav};
use crate::web::pages::{FormErrors, Layout, filters, render, render_with_status};

struct ClientRow {
    id: String,
    name: String,
    organisation: String,
    scopes: String,
    networks: String,
    created_by: String,
    created_at: i64,
    last_used_at: Option<i64>,
    state: &'static str,
    revocable: bool,
}

/// A secret shown once, right after the client was made.
struct FreshSecret {
    client_id: String,
    secret: String,
}

#[derive(Default)]
struct ClientForm {
    name: String,
    scopes: Vec<String>,
    expires_on: String,
    networks: String,
}

#[derive(Template)]
#[template(path = "clients/list.html")]
struct ClientsPage {
    layout: Layout,
    /// `None` on the site-wide page.
    organisation: Option<Organisation>,
    nav: Option<OrgNav>,
    action: String,
    rows: Vec<ClientRow>,
    holdable: Vec<Permission>,
    form: ClientForm,
    errors: FormErrors,
    fresh: Option<FreshSecret>,
    notice: Option<String>,
}

fn rows_of(ctx: &AppContext, clients: Vec<ApiClient>) -> Vec<ClientRow> {
    let now = ctx.clock.now();
    clients
        .into_iter()
        .map(|client| {
            let state = client.state(now);
            ClientRow {
                revocable: client.revoked_at.is_none(),
                organisation: client
                    .organisation_short_name
                    .unwrap_or_else(|| "site-wide".into()),
                scopes: client.scopes.to_scope_string(),
                networks: if client.networks.is_empty() {
                    "any".into()
                } else {
                    client.networks.to_list_string()
                },
                created_by: client
                    .created_by_name
                    .unwrap_or_else(|| "command line".into()),
                created_at: client.created_at,
                last_used_at: client.last_used_at,
                state,
                name: client.name,
                id: client.id,
            }
        })
        .collect()
}

/// Where the clients are managed: an organisation's page, or the site-wide one.
struct Place {
    organisation: Option<Organisation>,
    nav: Option<OrgNav>,
}

impl Place {
    /// Checks `clients.manage` there: in the organisation, or site-wide.
    async fn of(
        ctx: &AppContext,
        user: &SignedIn,
        organisation_id: Option<&str>,
    ) -> Result<Self, WebError> {
        match organisation_id {
            Some(id) => {
                let (organisation, granted) =
                    guard::organisation(ctx, user, id, Permission::ManageClients).await?;
                let nav = org_nav(&granted, &organisation, "clients");
                Ok(Self {
                    organisation: Some(organisation),
                    nav: Some(nav),
                })
            }
            None => {
                guard::require(ctx, user, Permission::ManageClients, None).await?;
                Ok(Self {
                    organisation: None,
                    nav: None,
                })
            }
        }
    }

    fn base(&self) -> String {
        match &self.organisation {
            Some(organisation) => format!("/orgs/{}/clients", organisation.id),
            None => "/admin/clients".into(),
        }
    }
}

/// What the page shows besides the list: the form, its errors, a fresh secret, a notice.
#[derive(Default)]
struct Shown {
    form: ClientForm,
    errors: FormErrors,
    fresh: Option<FreshSecret>,
    notice: Option<String>,
}

async fn page(
    ctx: &AppContext,
    user: &SignedIn,
    place: Place,
    shown: Shown,
) -> Result<ClientsPage, WebError> {
    let creator = ClientCreator::Person {
        person_id: &user.person.id,
        client_ip: None,
    };
    let organisation_id = place.organisation.as_ref().map(|o| o.id.as_str());
    let clients = ctx.store.clients(organisation_id).await?;
    Ok(ClientsPage {
        layout: Layout::for_user(user)?,
        action: place.base(),
        holdable: holdable_scopes(ctx, creator, place.organisation.as_ref()).await?,
        rows: rows_of(ctx, clients),
        organisation: place.organisation,
        nav: place.nav,
        form: shown.form,
        errors: shown.errors,
        fresh: shown.fresh,
        notice: shown.notice,
    })
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    done: Option<String>,
}

async fn list(
    ctx: &AppContext,
    user: &SignedIn,
    organisation_id: Option<&str>,
    query: &NoticeQuery,
) -> Result<HttpResponse, WebError> {
    let place = Place::of(ctx, user, organisation_id).await?;
    let generic = (query.done.as_deref() == Some("revoked"))
        .then_some("The client was revoked: its tokens no longer work with Roster's API.");
    let notice = super::notice::take(&user.session, query.done.as_deref(), generic);
    render(
        &page(
            ctx,
            user,
            place,
            Shown {
                notice,
                ..Shown::default()
            },
        )
        .await?,
    )
}

pub async fn org_clients(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, WebError> {
    list(&ctx, &user, Some(&path), &query).await
}

pub async fn site_clients(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, WebError> {
    list(&ctx, &user, None, &query).await
}

/// Reads the form by hand: `scope` is a list of checkboxes, which repeat the name.
fn read_form(body: &[u8]) -> Result<ClientForm, WebError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let mut form = ClientForm::default();
    for (key, value) in pairs {
        match key.as_str() {
            "name" => form.name = value,
            "scope" => form.scopes.push(value),
            "expires_on" => form.expires_on = value,
            "networks" => form.networks = value,
            _ => {}
        }
    }
    Ok(form)
}

async fn create(
    req: &HttpRequest,
    ctx: &AppContext,
    user: &SignedIn,
    organisation_id: Option<&str>,
    body: &[u8],
) -> Result<HttpResponse, WebError> {
    let place = Place::of(ctx, user, organisation_id).await?;
    let form = read_form(body)?;
    let mut errors = FormErrors::default();
    let name = errors.check(ClientName::parse(&form.name));
    let scopes = errors.check(Scopes::from_names(form.scopes.iter().map(String::as_str)));
    let expires = errors.check(
        EndDate::parse_optional(&form.expires_on, ctx.clock.today())
            .map_err(|error| crate::domain::FieldError::new("expires_on", error.message)),
    );
    let networks = errors.check(AllowedNetworks::parse(&form.networks));
    let (Some(name), Some(scopes), Some(expires), Some(networks)) =
        (name, scopes, expires, networks)
    else {
        return refused(ctx, user, place, form, errors).await;
    };
    let ip = crate::web::audit_ip(req, ctx);
    let creator = ClientCreator::Person {
        person_id: &user.person.id,
        client_ip: ip.as_deref(),
    };
    let created = create_client(
        ctx,
        creator,
        ClientRequest {
            organisation: place.organisation.as_ref(),
            name,
            scopes,
            networks,
            // A client made "until" a date works through the end of that day (UTC).
            expires_at: expires.map(EndDate::end_of_day_unix),
        },
    )
    .await;
    match created {
        Ok(created) => {
            let fresh = FreshSecret {
                client_id: created.id,
                secret: created.secret.expose().to_string(),
            };
            let shown = Shown {
                fresh: Some(fresh),
                ..Shown::default()
            };
            let mut response =
                render_with_status(StatusCode::CREATED, &page(ctx, user, place, shown).await?)?;
            // The secret is on this page only; keep it out of every cache.
            response.headers_mut().insert(
                actix_web::http::header::CACHE_CONTROL,
                actix_web::http::header::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        Err(ClientError::NotAllowed) => Err(WebError::Forbidden(
            "You may not manage API clients here.".into(),
        )),
        Err(ClientError::Store(error)) => Err(error.into()),
        Err(ClientError::Random(error)) => Err(WebError::internal(anyhow::anyhow!(error))),
        Err(refusal) => {
            errors.add(crate::domain::FieldError::new("scope", refusal.to_string()));
            refused(ctx, user, place, form, errors).await
        }
    }
}

/// The form again, with what was typed and the errors beside their fields.
async fn refused(
    ctx: &AppContext,
    user: &SignedIn,
    place: Place,
    form: ClientForm,
    errors: FormErrors,
) -> Result<HttpResponse, WebError> {
    let shown = Shown {
        form,
        errors,
        ..Shown::default()
    };
    render_with_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &page(ctx, user, place, shown).await?,
    )
}

pub async fn create_org_client(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    create(&req, &ctx, &user, Some(&path), &body).await
}

pub async fn create_site_client(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    create(&req, &ctx, &user, None, &body).await
}

async fn revoke(
    req: &HttpRequest,
    ctx: &AppContext,
    user: &SignedIn,
    organisation_id: Option<&str>,
    client_id: &str,
) -> Result<HttpResponse, WebError> {
    let place = Place::of(ctx, user, organisation_id).await?;
    let organisation = place.organisation.as_ref();
    let ip = crate::web::audit_ip(req, ctx);
    let revoked = revoke_client(
        ctx,
        Actor::Person(&user.person.id),
        ip.as_deref(),
        client_id,
        organisation,
    )
    .await?;
    if !revoked {
        // Another organisation's client is not found here; one revoked already conflicts.
        return match ctx.store.client(client_id).await? {
            Some(client)
                if organisation
                    .is_none_or(|o| client.organisation_id.as_deref() == Some(&o.id)) =>
            {
                Err(WebError::Conflict(
                    "This client was already revoked.".into(),
                ))
            }
            _ => Err(WebError::NotFound),
        };
    }
    if let Some(client) = ctx.store.client(client_id).await? {
        super::notice::keep(
            &user.session,
            "revoked",
            format!(
                "The client {} was revoked: its tokens no longer work with Roster's API.",
                client.name
            ),
        );
    }
    Ok(see_other(&format!("{}?done=revoked", place.base())))
}

pub async fn revoke_org_client(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, client_id) = path.into_inner();
    revoke(&req, &ctx, &user, Some(&organisation_id), &client_id).await
}

pub async fn revoke_site_client(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    revoke(&req, &ctx, &user, None, &path).await
}
