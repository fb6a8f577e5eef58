//! Cross-cutting HTTP layers: security headers, error pages rendered from templates, and
//! the per-request tracing span (with a request id, and without URLs that hold tokens).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse};
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse};
use askama::Template;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use super::error::ErrorPage;
use super::pages::Layout;

/// No inline script or style anywhere, so the policy can be strict: only our own files.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Links carry single-use tokens; never leak them to other sites.
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ));
    if https {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorTemplate<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: Option<String>,
}

fn generic_page(status: StatusCode) -> ErrorPage {
    let (title, message) = match status {
        StatusCode::NOT_FOUND => (
            "Page not found",
            "There is no page at this address. Check the link, or go back to the start page.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("Too large", "What you sent is too large to be accepted.")
        }
        StatusCode::METHOD_NOT_ALLOWED => ("Not allowed", "This page cannot be used that way."),
        status if status.is_client_error() => (
            "Request not understood",
            "Roster could not read what was sent. Go back, check the form and try again.",
        ),
        _ => (
            "Something went wrong",
            "Roster could not complete this request. Try again in a moment; if it keeps \
             happening, contact support and quote the request id below.",
        ),
    };
    ErrorPage {
        title: title.into(),
        message: message.into(),
    }
}

/// Gives every 4xx/5xx response a page from the templates, unless a handler has already
/// rendered one (a form shown again with its errors, say).
pub fn render_error_page<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let status = res.status();
    let page = res.response().extensions().get::<ErrorPage>().cloned();
    // A handler's own HTML (a form with its errors) or JSON (readiness) stays as it is;
    // framework errors come as plain text or nothing, and get a page.
    let deliberate_body = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.starts_with("text/html")
                || value.starts_with("application/json")
                || value.starts_with("application/problem+json")
        });
    // Scripts get the API's own answers (problem+json), never an HTML page.
    let for_scripts = super::csrf::bearer_only(res.request().path());
    if (page.is_none() && deliberate_body) || for_scripts {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let page = page.unwrap_or_else(|| generic_page(status));
    let request_id = Some(request_id_of(res.request())).filter(|id| !id.is_empty());
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let body = ErrorTemplate {
        layout: Layout::default(),
        status: status.as_u16(),
        title: &page.title,
        message: &page.message,
        request_id,
    }
    .render()
    .unwrap_or_else(|_| format!("{}: {}", page.title, page.message));
    let (req, _) = res.into_parts();
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(value) = retry_after {
        response.insert_header((header::RETRY_AFTER, value));
    }
    let response = response.body(body);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// The root span of every request: request id, method, matched route pattern and status.
/// The raw path is left out on purpose: invitation and reset links carry secrets in it.
pub struct RequestSpan;

/// When the request arrived, for the access line's latency.
struct Arrived(Instant);

/// Who made the request, put in the request's extensions by whatever authenticated it
/// (`person:<id>` for a session, `client:<id>` for an API token), for the access line.
#[derive(Clone)]
pub struct LoggedActor(pub String);

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        request.extensions_mut().insert(Arrived(Instant::now()));
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            route = tracing::field::Empty,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => {
                let request = response.request();
                let route = request
                    .match_pattern()
                    .unwrap_or_else(|| "(no route)".into());
                span.record("route", route.as_str());
                let extensions = request.extensions();
                let latency_ms = extensions
                    .get::<Arrived>()
                    .map(|arrived| arrived.0.elapsed().as_secs_f64() * 1000.0);
                let actor = extensions
                    .get::<LoggedActor>()
                    .map(|actor| actor.0.as_str());
                span.in_scope(|| {
                    tracing::info!(
                        request_id = %request_id_of(request),
                        route = %route,
                        status = response.status().as_u16(),
                        latency_ms,
                        actor,
                        "served"
                    );
                });
                (response.status(), response.response().error())
            }
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record("status", status.as_u16());
        let Some(error) = error else { return };
        // ERROR is for what an operator must act on; a visitor's mistake or a redirect to
        // the sign-in page is routine.
        span.in_scope(|| {
            if status.is_server_error() {
                tracing::error!(%status, error = ?error, "request failed");
            } else if status.is_client_error() {
                tracing::info!(%status, error = ?error, "request refused");
            } else {
                tracing::debug!(%status, error = ?error, "request redirected");
            }
        });
    }
}

fn request_id_of(request: &HttpRequest) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default()
}
