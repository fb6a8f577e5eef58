//! Who is signed in. Handlers take [`SignedIn`] to require a session; the extractor
//! re-reads the account on every request, so a locked account is out at once.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use crate::auth::SESSION_PERSON_ID;
use crate::context::AppContext;
use crate::domain::Permission;
use crate::store::people::{AccountStatus, Person};
use crate::web::error::WebError;
use crate::web::middleware::LoggedActor;

pub struct SignedIn {
    pub person: Person,
    pub session: Session,
    /// What the person may do site-wide, read with the account (see `guard`).
    pub site_permissions: Vec<Permission>,
    /// The path asked for, so the header can mark where the person is.
    pub path: String,
}

/// Marks the session as belonging to `person_id`, under a new session key so a key
/// planted before sign-in (session fixation) is worthless.
pub fn sign_in(session: &Session, person_id: &str) -> Result<(), WebError> {
    session.renew();
    session
        .insert(SESSION_PERSON_ID, person_id)
        .map_err(|error| WebError::internal(anyhow::anyhow!("session insert: {error}")))?;
    super::csrf::rotate(session)?;
    Ok(())
}

pub fn signed_in_person_id(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_PERSON_ID).ok().flatten()
}

impl FromRequest for SignedIn {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let session = req.get_session();
        let path = req.path().to_string();
        let ctx = req.app_data::<web::Data<AppContext>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| WebError::internal(anyhow::anyhow!("no app context")))?;
            let person_id = signed_in_person_id(&session).ok_or(WebError::SignInRequired)?;
            let person = ctx.store.person_with_site_permissions(&person_id).await?;
            match person {
                Some((person, site_permissions)) if person.status == AccountStatus::Active => {
                    req.extensions_mut()
                        .insert(LoggedActor(format!("person:{}", person.id)));
                    Ok(SignedIn {
                        person,
                        session,
                        site_permissions,
                        path,
                    })
                }
                _ => {
                    session.purge();
                    Err(WebError::SignInRequired)
                }
            }
        })
    }
}
