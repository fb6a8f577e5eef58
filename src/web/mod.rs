//! HTTP: routes, handlers by audience, forms, and the error pages. Handlers parse forms
//! into domain types and call `usecases`/`store`; no SQL or LDAP filters live here.

pub mod account;
pub mod admin;
pub mod assets;
pub mod error;
pub mod health;
pub mod invitations;
pub mod keys;
pub mod middleware;
pub mod orgs;
pub mod pages;
pub mod profile;
pub mod setup;
pub mod staff;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/static/roster.css", web::get().to(assets::stylesheet))
        .route("/static/copy.js", web::get().to(assets::copy_script))
        .route("/", web::get().to(account::home))
        .route("/sign-in", web::get().to(account::sign_in_form))
        .route("/sign-in", web::post().to(account::sign_in))
        .route("/sign-out", web::post().to(account::sign_out))
        .route("/invitations/{token}", web::get().to(invitations::show))
        .route("/invitations/{token}", web::post().to(invitations::accept))
        .route(
            "/invitations/{token}/join",
            web::post().to(invitations::join),
        )
        .route("/admin/jobs", web::get().to(admin::jobs))
        .route("/admin/jobs/{job}/retry", web::post().to(admin::retry))
        .route("/admin/accounts", web::get().to(staff::accounts))
        .route("/admin/accounts/{person}", web::get().to(staff::account))
        .route(
            "/admin/accounts/{person}/contact",
            web::post().to(staff::change_contact),
        )
        .route(
            "/admin/accounts/{person}/password-reset",
            web::post().to(staff::send_reset),
        )
        .route("/admin/accounts/{person}/lock", web::post().to(staff::lock))
        .route(
            "/admin/accounts/{person}/unlock",
            web::post().to(staff::unlock),
        )
        .route(
            "/admin/accounts/{person}/keys/{key}/remove",
            web::post().to(staff::remove_key),
        )
        .route(
            "/admin/accounts/{person}/resync",
            web::post().to(staff::resync),
        )
        .route(
            "/admin/accounts/{person}/delete",
            web::get().to(staff::delete_form),
        )
        .route(
            "/admin/accounts/{person}/delete",
            web::post().to(staff::delete),
        )
        .route("/admin/staff", web::get().to(staff::staff))
        .route("/admin/staff", web::post().to(staff::grant))
        .route(
            "/admin/staff/{person}/{role}/revoke",
            web::post().to(staff::revoke),
        )
        .route("/account", web::get().to(profile::show))
        .route("/account/name", web::post().to(profile::rename))
        .route(
            "/account/password",
            web::post().to(profile::change_password),
        )
        .route("/password-reset", web::get().to(profile::reset_form))
        .route("/password-reset", web::post().to(profile::reset_request))
        .route(
            "/password-reset/{token}",
            web::get().to(profile::reset_choose),
        )
        .route(
            "/password-reset/{token}",
            web::post().to(profile::reset_set),
        )
        .route("/account/keys", web::get().to(keys::list))
        .route("/account/keys", web::post().to(keys::add))
        .route("/account/keys/upload", web::post().to(keys::upload))
        .route("/account/keys/{key}/remove", web::post().to(keys::remove))
        .route("/account/setup", web::get().to(setup::show))
        .route("/account/setup", web::post().to(setup::review))
        .route("/account/setup/confirm", web::post().to(setup::confirm))
        .route("/orgs", web::get().to(orgs::list))
        .route("/orgs", web::post().to(orgs::create))
        .route("/orgs/{org}", web::get().to(orgs::show))
        .route(
            "/orgs/{org}/description",
            web::post().to(orgs::update_description),
        )
        .route("/orgs/{org}/members", web::get().to(orgs::members))
        .route("/orgs/{org}/members", web::post().to(orgs::add_member))
        .route(
            "/orgs/{org}/members/{membership}",
            web::get().to(orgs::member),
        )
        .route(
            "/orgs/{org}/members/{membership}/{change}",
            web::post().to(orgs::change_member),
        )
        .route("/orgs/{org}/directory", web::get().to(orgs::directory))
        .route("/orgs/{org}/invitations", web::get().to(orgs::invitations))
        .route("/orgs/{org}/invitations", web::post().to(orgs::invite))
        .route(
            "/orgs/{org}/invitations/{invitation}/resend",
            web::post().to(orgs::resend),
        )
        .route(
            "/orgs/{org}/invitations/{invitation}/revoke",
            web::post().to(orgs::revoke),
        )
        .route("/orgs/{org}/history", web::get().to(orgs::history));
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
