//! CSRF protection, enforced as middleware so no POST route can be added without it.
//!
//! - Signed-in visitors (and anyone with server-side session state) use a synchronizer
//!   token kept in their session.
//! - Anonymous visitors get no server-side state at all: their token lives in a cookie
//!   signed with the server key (signed double-submit), and forms carry the same value.
//!   A cookie planted by another site cannot be signed, and the token cannot be read
//!   cross-site, so a forged form cannot match it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use actix_session::{Session, SessionExt};
use actix_web::HttpMessage;
use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;

use crate::auth::SESSION_CSRF;
use crate::web::error::WebError;

/// The form field (first of a multipart form's) or `X-CSRF-Token` header carrying the token.
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
    let token = random_token()?;
    session
        .insert(SESSION_CSRF, &token)
        .map_err(|error| WebError::internal(anyhow::anyhow!("session insert: {error}")))?;
    Ok(token)
}

/// What the middleware needs to sign anonymous visitors' token cookies.
#[derive(Clone)]
pub struct CsrfCookie {
    key: Key,
    secure: bool,
}

impl CsrfCookie {
    pub fn new(key: Key, secure: bool) -> Self {
        Self { key, secure }
    }

    fn name(&self) -> &'static str {
        // `__Host-` pins the cookie to this origin; browsers accept it only over HTTPS.
        if self.secure {
            "__Host-roster-csrf"
        } else {
            "roster-csrf"
        }
    }

    /// The token in the request's cookie, when its signature is ours.
    fn read(&self, req: &ServiceRequest) -> Option<String> {
        let cookie = req.cookie(self.name())?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie.into_owned());
        jar.signed(&self.key)
            .get(self.name())
            .map(|cookie| cookie.value().to_string())
    }

    fn signed(&self, token: &str) -> Option<Cookie<'static>> {
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(
            Cookie::build(self.name(), token.to_string())
                .path("/")
                .http_only(true)
                .secure(self.secure)
                .same_site(SameSite::Lax)
                .finish(),
        );
        jar.delta().next().cloned()
    }
}

/// An anonymous visitor's token for this request; `fresh` when the cookie must be set.
#[derive(Clone)]
struct AnonymousToken {
    token: String,
    fresh: bool,
    used: Rc<Cell<bool>>,
}

/// The token a page's forms carry: the session's, or, for a visitor without session
/// state, the one of their signed cookie (set with this response when new). Unlike
/// [`token`], this never writes a session.
pub fn form_token(req: &HttpRequest, session: &Session) -> Result<String, WebError> {
    if let Ok(Some(existing)) = session.get::<String>(SESSION_CSRF) {
        return Ok(existing);
    }
    let anonymous = req
        .extensions()
        .get::<AnonymousToken>()
        .cloned()
        .ok_or_else(|| WebError::internal(anyhow::anyhow!("CSRF middleware not installed")))?;
    anonymous.used.set(true);
    Ok(anonymous.token)
}

fn random_token() -> Result<String, WebError> {
    let bytes: [u8; 32] = crate::entropy::random_bytes().map_err(WebError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Routes that read no cookie (the API with Bearer tokens, the token endpoint with client
/// credentials), so a forged cross-site request carries nothing that would authenticate it.
pub fn bearer_only(path: &str) -> bool {
    path.starts_with("/api/") || path == "/oauth/token"
}

pub async fn require_token<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if bearer_only(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let Some(cookie) = req.app_data::<web::Data<CsrfCookie>>().cloned() else {
        return Ok(refuse(
            req,
            WebError::internal(anyhow::anyhow!("CSRF cookie key not configured")),
        ));
    };
    let from_cookie = cookie.read(&req);
    let anonymous = AnonymousToken {
        fresh: from_cookie.is_none(),
        token: match from_cookie.clone() {
            Some(token) => token,
            None => match random_token() {
                Ok(token) => token,
                Err(error) => return Ok(refuse(req, error)),
            },
        },
        used: Rc::new(Cell::new(false)),
    };
    req.extensions_mut().insert(anonymous.clone());
    if !is_safe(req.method())
        && let Err(error) = check_token(&mut req, from_cookie).await
    {
        return Ok(refuse(req, error));
    }
    let mut response = next.call(req).await?;
    if anonymous.fresh
        && anonymous.used.get()
        && let Some(signed) = cookie.signed(&anonymous.token)
        && let Err(error) = response.response_mut().add_cookie(&signed)
    {
        tracing::warn!(%error, "CSRF cookie not set");
    }
    Ok(response.map_into_left_body())
}

/// Compares the submitted token with the session's, or for a visitor without one, with
/// their signed cookie's.
async fn check_token(
    req: &mut ServiceRequest,
    from_cookie: Option<String>,
) -> Result<(), WebError> {
    let from_session: Option<String> = req.get_session().get(SESSION_CSRF).ok().flatten();
    let expected = from_session.or(from_cookie);
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
    // Never from the URL: a token there would end up in histories and logs.
    let is_upload = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    let submitted = match from_header {
        Some(token) => Some(token),
        None if is_form => {
            let body = read_body(req.take_payload()).await?;
            let token = form_field(&body, FIELD);
            // Hand the body back for the handler's own form extractor.
            req.set_payload(Payload::from(body));
            token
        }
        None if is_upload => {
            let headers = req.headers().clone();
            let (token, body) = first_multipart_field(&headers, req.take_payload()).await;
            req.set_payload(body);
            token
        }
        None => None,
    };
    let matches = match (expected, submitted) {
        (Some(expected), Some(submitted)) => crate::auth::same_secret(&expected, &submitted),
        _ => false,
    };
    if !matches {
        tracing::info!("request refused: CSRF token missing or wrong");
        return Err(WebError::CsrfRejected);
    }
    Ok(())
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

/// Longest token value read from a multipart form.
const MAX_TOKEN_BYTES: usize = 256;

/// The token of a file-upload form: its first field, as our forms put the hidden token
/// first (browsers send fields in page order). Only that much of the body is read; it is
/// handed back in front of the rest, so the handler reads the whole form, however large.
async fn first_multipart_field(
    headers: &actix_web::http::header::HeaderMap,
    payload: Payload,
) -> (Option<String>, Payload) {
    let seen = Rc::new(RefCell::new(BytesMut::new()));
    let rest = Rc::new(RefCell::new(Some(payload)));
    let mut form = actix_multipart::Multipart::new(
        headers,
        Recorded {
            inner: rest.clone(),
            seen: seen.clone(),
        },
    );
    let mut token = None;
    if let Some(Ok(mut field)) = form.next().await
        && field.name() == Some(FIELD)
    {
        let mut value = BytesMut::new();
        while let Some(Ok(chunk)) = field.next().await {
            if value.len() + chunk.len() > MAX_TOKEN_BYTES {
                value.clear();
                break;
            }
            value.extend_from_slice(&chunk);
        }
        token = String::from_utf8(value.to_vec()).ok();
    }
    drop(form);
    let seen = seen.borrow_mut().split().freeze();
    let rest = rest.borrow_mut().take();
    let replay = futures_util::stream::once(async move { Ok(seen) });
    let body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>>>,
    > = match rest {
        Some(rest) => Box::pin(replay.chain(rest)),
        None => Box::pin(replay),
    };
    (token, Payload::Stream { payload: body })
}

/// A request body stream that keeps a copy of every chunk read from it.
struct Recorded {
    inner: Rc<RefCell<Option<Payload>>>,
    seen: Rc<RefCell<BytesMut>>,
}

impl futures_util::Stream for Recorded {
    type Item = Result<Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let mut inner = self.inner.borrow_mut();
        let Some(payload) = inner.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let polled = std::pin::Pin::new(payload).poll_next(cx);
        if let std::task::Poll::Ready(Some(Ok(chunk))) = &polled {
            self.seen.borrow_mut().extend_from_slice(chunk);
        }
        polled
    }
}
