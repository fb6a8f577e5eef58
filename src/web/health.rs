//! Liveness and readiness for load balancers and orchestrators.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::context::AppContext;

/// The process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    database: String,
    ldap: String,
    /// The LDAP server that answered (`ldap.url` may list several); `null` when none did.
    ldap_server: Option<String>,
    people_index: PeopleIndex,
}

/// The local people index's age: searches read it, so a stale one is worth an alert, but
/// it does not make the portal unready (a search falls back to LDAP until it is loaded).
#[derive(Serialize)]
struct PeopleIndex {
    loaded: bool,
    /// Seconds since the last refresh; `null` before the first.
    age_seconds: Option<i64>,
    /// Seconds since the last full pass.
    full_pass_age_seconds: Option<i64>,
}

/// Ready when both the database and LDAP answer; 503 names what does not.
pub async fn readyz(ctx: web::Data<AppContext>) -> HttpResponse {
    let (database, ldap) = tokio::join!(ctx.store.ping(), ctx.directory.ping());
    let describe = |result: Result<(), String>| match result {
        Ok(()) => "ok".to_string(),
        Err(reason) => reason,
    };
    let ready = database.is_ok() && ldap.is_ok();
    let (ldap, ldap_server) = match ldap {
        Ok(server) => (Ok(()), Some(server)),
        Err(error) => (Err(error), None),
    };
    let now = ctx.clock.now();
    let index = ctx.store.index_state().await.unwrap_or_default();
    let body = Readiness {
        people_index: PeopleIndex {
            loaded: index.loaded_at.is_some(),
            age_seconds: index.refreshed_at.map(|at| (now - at).max(0)),
            full_pass_age_seconds: index.full_at.map(|at| (now - at).max(0)),
        },
        status: if ready { "ready" } else { "unavailable" },
        database: describe(database.map_err(|e| e.to_string())),
        ldap: describe(ldap.map_err(|e| e.to_string())),
        ldap_server,
    };
    if !ready {
        tracing::warn!(database = %body.database, ldap = %body.ldap, "not ready");
    }
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}
