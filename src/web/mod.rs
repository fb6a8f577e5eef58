//! HTTP: routes, handlers by feature, forms, and the error pages. Handlers parse forms
//! into domain types and call `usecases`/`store`; no SQL or LDAP filters live here.

pub mod accept_invitation;
pub mod account;
pub mod api;
pub mod assets;
pub mod clients;
pub mod confirm;
pub mod csrf;
pub mod error;
pub mod event_sentence;
pub mod guard;
pub mod health;
pub mod home;
pub mod identity;
pub mod keys;
pub mod metrics;
pub mod middleware;
pub mod notice;
pub mod oauth;
pub mod orgs;
pub mod pages;
pub mod password_reset;
pub mod profile;
pub mod setup;
pub mod sso;
pub mod staff;

use actix_web::web;

/// Declares every route once: registers it and lists it in [`ROUTES`], so the
/// authorization-matrix test knows every route there is and a new one cannot be added
/// without deciding who may use it.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every route the portal serves, as (method, path pattern).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        pub fn routes(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

routes! {
    get "/healthz" => health::healthz,
    get "/readyz" => health::readyz,
    get "/metrics" => metrics::scrape,
    get "/static/roster.css" => assets::stylesheet,
    get "/static/copy.js" => assets::copy_script,
    get "/" => home::home,
    get "/sign-in" => account::sign_in_form,
    post "/sign-in" => account::sign_in,
    post "/sign-out" => account::sign_out,
    post "/auth/oidc/start" => sso::start,
    get "/auth/oidc/callback" => sso::callback,
    get "/invitations/{token}" => accept_invitation::show,
    post "/invitations/{token}" => accept_invitation::accept,
    post "/invitations/{token}/join" => accept_invitation::join,
    get "/admin/jobs" => staff::jobs,
    post "/admin/jobs/{job}/retry" => staff::retry,
    get "/admin/scim/{target}" => staff::scim_drift,
    post "/admin/scim/{target}/repair" => staff::scim_repair,
    get "/admin/drift" => staff::drift,
    get "/admin/drift/repair" => staff::confirm_drift_repair,
    post "/admin/drift/repair" => staff::drift_repair,
    get "/admin/drift/repair-all" => staff::confirm_drift_repair_all,
    post "/admin/drift/repair-all" => staff::drift_repair_all,
    get "/admin/accounts" => staff::accounts,
    get "/admin/accounts/{person}" => staff::account,
    post "/admin/accounts/{person}/contact" => staff::change_contact,
    post "/admin/accounts/{person}/password-reset" => staff::send_reset,
    post "/admin/accounts/{person}/lock" => staff::lock,
    post "/admin/accounts/{person}/unlock" => staff::unlock,
    get "/admin/accounts/{person}/keys/{key}/remove" => staff::confirm_remove_key,
    post "/admin/accounts/{person}/keys/{key}/remove" => staff::remove_key,
    post "/admin/accounts/{person}/resync" => staff::resync,
    get "/admin/accounts/{person}/delete" => staff::delete_form,
    post "/admin/accounts/{person}/delete" => staff::delete,
    get "/admin/staff" => staff::staff,
    post "/admin/staff" => staff::grant,
    get "/admin/staff/{person}/{role}/revoke" => staff::confirm_revoke,
    post "/admin/staff/{person}/{role}/revoke" => staff::revoke,
    get "/account" => profile::show,
    post "/account/name" => profile::rename,
    post "/account/password" => profile::change_password,
    get "/account/identities/unlink" => profile::confirm_unlink_identity,
    post "/account/identities/unlink" => profile::unlink_identity,
    get "/password-reset" => password_reset::reset_form,
    post "/password-reset" => password_reset::reset_request,
    get "/password-reset/{token}" => password_reset::reset_choose,
    post "/password-reset/{token}" => password_reset::reset_set,
    get "/account/keys" => keys::list,
    post "/account/keys" => keys::add,
    post "/account/keys/upload" => keys::upload,
    get "/account/keys/{key}/remove" => keys::confirm_remove,
    post "/account/keys/{key}/remove" => keys::remove,
    get "/account/setup" => setup::show,
    post "/account/setup" => setup::review,
    post "/account/setup/confirm" => setup::confirm,
    get "/orgs" => orgs::list,
    post "/orgs" => orgs::create,
    get "/orgs/{org}" => orgs::show,
    post "/orgs/{org}/description" => orgs::update_description,
    get "/orgs/{org}/members" => orgs::members,
    post "/orgs/{org}/members" => orgs::add_member,
    get "/orgs/{org}/members/{membership}" => orgs::member,
    get "/orgs/{org}/members/{membership}/remove" => orgs::confirm_remove_member,
    post "/orgs/{org}/members/{membership}/{change}" => orgs::change_member,
    get "/orgs/{org}/directory" => orgs::directory,
    get "/orgs/{org}/invitations" => orgs::invitations,
    post "/orgs/{org}/invitations" => orgs::invite,
    get "/orgs/{org}/resources" => orgs::resources,
    post "/orgs/{org}/resources" => orgs::create_resource,
    get "/orgs/{org}/resources/{resource}" => orgs::resource,
    get "/orgs/{org}/resources/{resource}/{change}" => orgs::confirm_resource_change,
    post "/orgs/{org}/resources/{resource}/{change}" => orgs::change_resource,
    post "/orgs/{org}/invitations/batch" => orgs::preview_batch,
    post "/orgs/{org}/invitations/batch/confirm" => orgs::confirm_batch,
    get "/orgs/{org}/invitations/batches/{batch}" => orgs::batch_status,
    get "/orgs/{org}/invitations/batches/{batch}/errors.csv" => orgs::batch_errors_csv,
    post "/orgs/{org}/invitations/{invitation}/resend" => orgs::resend,
    get "/orgs/{org}/invitations/{invitation}/revoke" => orgs::confirm_revoke,
    post "/orgs/{org}/invitations/{invitation}/revoke" => orgs::revoke,
    get "/orgs/{org}/history" => orgs::history,
    get "/orgs/{org}/clients" => clients::org_clients,
    post "/orgs/{org}/clients" => clients::create_org_client,
    get "/orgs/{org}/clients/{client}/revoke" => clients::confirm_revoke_org_client,
    post "/orgs/{org}/clients/{client}/revoke" => clients::revoke_org_client,
    get "/admin/clients" => clients::site_clients,
    post "/admin/clients" => clients::create_site_client,
    get "/admin/clients/{client}/revoke" => clients::confirm_revoke_site_client,
    post "/admin/clients/{client}/revoke" => clients::revoke_site_client,
    post "/oauth/token" => oauth::token,
    get "/.well-known/jwks.json" => oauth::jwks,
    get "/.well-known/oauth-authorization-server" => oauth::metadata,
}

/// The client's address as audit events record it.
pub fn audit_ip(req: &actix_web::HttpRequest, ctx: &crate::context::AppContext) -> Option<String> {
    client_ip(req, ctx.settings.server.trust_forwarded_for).map(|ip| ip.to_string())
}

/// The client's address for rate limits and audit events: the TCP peer, or the
/// `X-Forwarded-For` value when `server.trust_forwarded_for` says a proxy sets it.
pub fn client_ip(
    req: &actix_web::HttpRequest,
    trust_forwarded_for: bool,
) -> Option<std::net::IpAddr> {
    let forwarded = trust_forwarded_for
        .then(|| {
            req.connection_info()
                .realip_remote_addr()
                .and_then(|addr| addr.parse().ok())
        })
        .flatten();
    forwarded.or_else(|| req.peer_addr().map(|addr| addr.ip()))
}
