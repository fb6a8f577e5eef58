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
}

/// Ready when both the database and LDAP answer; 503 names what does not.
pub async fn readyz(ctx: web::Data<AppContext>) -> HttpResponse {
    let (database, ldap) = tokio::join!(ctx.store.ping(), ctx.directory.ping());
    let describe = |result: Result<(), String>| match result {
        Ok(()) => "ok".to_string(),
        Err(reason) => reason,
    };
    let ready = database.is_ok() && ldap.is_ok();
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database: describe(database.map_err(|e| e.to_string())),
        ldap: describe(ldap.map_err(|e| e.to_string())),
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
