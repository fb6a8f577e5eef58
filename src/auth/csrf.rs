//! CSRF protection by synchronizer token: every state-changing request must carry the
//! token kept in the visitor's session. Enforced as middleware, so no POST route can be
//! added without it.

use actix_session::{Session, SessionExt};
use actix_web::HttpMessage;
use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use rand::TryRng;

use super::SESSION_CSRF;
use crate::web::error::WebError;

/// The form field (and `X-CSRF-Token` header, for uploads) carrying the token.
pub const FIELD: &str = "csrf_token";
const HEADER: &str = "x-csrf-token";
/// Larger form bodies are refused before they are read into memory.
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// The session's token, made on first use. Every page with a form calls this.
pub fn token(session: &Session) -> Result<String, WebError> {
    if let Ok(Some(existing)) = session.get::<String>(SESSION_CSRF) {
        return Ok(existing);
    }
    rotate(session)
}

/// A fresh token; called at sign-in so a token seen before sign-in is useless after it.
pub fn rotate(session: &Session) -> Result<String, WebError> {
    let mut bytes = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(WebError::internal)?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    session
        .insert(SESSION_CSRF, &token)
        .map_err(|error| WebError::internal(anyhow::anyhow!("session insert: {error}")))?;
    Ok(token)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn require_token<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if is_safe(req.method()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let expected: Option<String> = req.get_session().get(SESSION_CSRF).ok().flatten();
    let from_header = req
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    // A file upload cannot carry the token in a body we read here, so its form puts it in
    // the action URL (request spans never log URLs; pages send no Referer).
    let is_upload = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    let from_query = is_upload
        .then(|| form_field(req.query_string().as_bytes(), FIELD))
        .flatten();
    let submitted = match from_header.or(from_query) {
        Some(token) => Some(token),
        None if is_form => {
            let body = match read_body(req.take_payload()).await {
                Ok(body) => body,
                // Answered here as a response, so the error-page layer renders it.
                Err(error) => return Ok(refuse(req, error)),
            };
            let token = form_field(&body, FIELD);
            // Hand the body back for the handler's own form extractor.
            req.set_payload(Payload::from(body));
            token
        }
        None => None,
    };
    let matches = match (expected, submitted) {
        (Some(expected), Some(submitted)) => super::same_secret(&expected, &submitted),
        _ => false,
    };
    if !matches {
        tracing::warn!("request refused: CSRF token missing or wrong");
        return Ok(refuse(req, WebError::CsrfRejected));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn refuse<B>(req: ServiceRequest, error: WebError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response())
        .map_into_right_body()
}

async fn read_body(mut payload: Payload) -> Result<Bytes, WebError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(WebError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}
