//! `GET /metrics` (Prometheus text format): on the main port behind the bearer token of
//! `metrics.token_file`, on `metrics.listen` without one; and the middleware that times
//! every request by its route pattern.

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::api::problem::ApiError;
use super::error::WebError;
use crate::context::AppContext;
use crate::metrics::{CONTENT_TYPE, OutboxCount, ScrapeFacts};

/// The main port's `/metrics`: only with the configured token, and not at all without one.
pub async fn scrape(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
) -> Result<HttpResponse, WebError> {
    let expected = ctx.settings.metrics.token.expose();
    if expected.is_empty() {
        return Err(WebError::NotFound);
    }
    // The API's reading of `Authorization: Bearer` (the scheme in any case, RFC 9110).
    let Ok(presented) = super::api::bearer_token(req.headers()) else {
        return Ok(refusal("send the metrics token as a Bearer token", false));
    };
    // Digests first, so the comparison takes the same time whatever the length.
    let matches: bool = Sha256::digest(presented.as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into();
    if !matches {
        return Ok(refusal("this is not the metrics token", true));
    }
    Ok(exposition(&ctx).await)
}

/// 401 as problem+json with a Bearer challenge (RFC 6750: no error code when none was sent).
fn refusal(detail: &str, token_sent: bool) -> HttpResponse {
    let mut response = ApiError::InvalidToken(detail.into()).error_response();
    if !token_sent {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"roster\""),
        );
    }
    response
}

/// Every metric, with the outbox and pool read now.
async fn exposition(ctx: &AppContext) -> HttpResponse {
    let facts = match scrape_facts(ctx).await {
        Ok(facts) => facts,
        Err(error) => {
            tracing::warn!(%error, "metrics: could not read the outbox");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    match ctx.metrics.render(&facts) {
        Ok(text) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(text),
        Err(error) => {
            tracing::error!(%error, "metrics could not be rendered");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn scrape_facts(ctx: &AppContext) -> Result<ScrapeFacts, crate::store::StoreError> {
    let now = ctx.clock.now();
    let outbox = ctx
        .store
        .outbox_depth()
        .await?
        .into_iter()
        .map(|depth| OutboxCount {
            oldest_age_seconds: depth.oldest_created_at.map_or(0, |oldest| now - oldest),
            target: depth.target,
            state: depth.state,
            jobs: depth.jobs,
        })
        .collect();
    let pool = ctx.store.pool_usage();
    Ok(ScrapeFacts {
        targets: ["ldap", "mail"]
            .into_iter()
            .map(String::from)
            .chain(
                ctx.settings
                    .provisioning
                    .scim
                    .iter()
                    .map(|t| t.name.clone()),
            )
            .collect(),
        outbox,
        pool_size: pool.size,
        pool_idle: pool.idle,
    })
}

/// Times every request into `roster_http_request_duration_seconds`, labelled by the route
/// pattern (never the path, so ids do not make new series) and the status class.
pub async fn observe_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    // Any token is a method to actix: only the known ones become labels.
    let method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        .into_iter()
        .find(|known| *known == req.method().as_str())
        .unwrap_or("other");
    let metrics = req
        .app_data::<web::Data<AppContext>>()
        .map(|ctx| ctx.metrics.clone());
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        metrics.observe_request(&route, method, status.as_u16(), started.elapsed());
    }
    result
}

/// The listener of `metrics.listen`: `/metrics` alone, without a token (loopback only,
/// which the configuration enforces).
pub fn serve_on(listener: TcpListener, ctx: AppContext) -> std::io::Result<Server> {
    let data = web::Data::new(ctx);
    Ok(HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/metrics",
            web::get().to(|ctx: web::Data<AppContext>| async move { exposition(&ctx).await }),
        )
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(5)
    .run())
}
