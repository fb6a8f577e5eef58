//! The one permission guard every handler goes through.

use crate::context::AppContext;
use crate::domain::Permission;
use crate::store::organisations::Organisation;
use crate::web::error::WebError;
use crate::web::identity::SignedIn;

const NOT_ALLOWED: &str = "You do not have permission for this page. If you think you should, ask the organisation's owner or the site administrators.";

/// Refuses with 403 unless the person holds `permission` site-wide or in `organisation_id`.
pub async fn require(
    ctx: &AppContext,
    user: &SignedIn,
    permission: Permission,
    organisation_id: Option<&str>,
) -> Result<(), WebError> {
    if granted(ctx, user, organisation_id)
        .await?
        .allows(permission)
    {
        Ok(())
    } else {
        tracing::info!(person = %user.person.id, permission = permission.as_str(), "permission refused");
        Err(WebError::Forbidden(NOT_ALLOWED.into()))
    }
}

/// Everything the person may do site-wide and, when given, in one organisation. The
/// site-wide permissions were read with the account at the start of the request.
async fn granted(
    ctx: &AppContext,
    user: &SignedIn,
    organisation_id: Option<&str>,
) -> Result<Granted, WebError> {
    let Some(organisation_id) = organisation_id else {
        return Ok(Granted(user.site_permissions.clone()));
    };
    let membership = ctx
        .store
        .membership_permissions_in(&user.person.id, organisation_id, &ctx.clock.today_iso())
        .await?;
    Ok(Granted::of(user, membership))
}

/// What a person may do in one organisation, read once per request.
#[derive(Debug, Clone)]
pub struct Granted(Vec<Permission>);

impl Granted {
    /// The person's site-wide permissions and those `membership` adds.
    pub fn of(user: &SignedIn, membership: Vec<Permission>) -> Self {
        let mut held = user.site_permissions.clone();
        for permission in membership {
            if !held.contains(&permission) {
                held.push(permission);
            }
        }
        Self(held)
    }

    pub fn allows(&self, permission: Permission) -> bool {
        self.0.contains(&permission)
    }
}

/// Loads the organisation a route names and checks `permission` in it: 404 when there is
/// no such organisation, 403 when the person may not. Returns everything the person may do
/// there, so the page can show or hide its controls without asking again.
pub async fn organisation(
    ctx: &AppContext,
    user: &SignedIn,
    organisation_id: &str,
    permission: Permission,
) -> Result<(Organisation, Granted), WebError> {
    let (organisation, held) = ctx
        .store
        .organisation_with_membership_permissions(
            organisation_id,
            &user.person.id,
            &ctx.clock.today_iso(),
        )
        .await?
        .ok_or(WebError::NotFound)?;
    let granted = Granted::of(user, held);
    if !granted.allows(permission) {
        tracing::info!(person = %user.person.id, permission = permission.as_str(), "permission refused");
        return Err(WebError::Forbidden(NOT_ALLOWED.into()));
    }
    Ok((organisation, granted))
}

/// Everything the person may do site-wide, for pages that show or hide staff controls.
pub async fn site_wide(ctx: &AppContext, user: &SignedIn) -> Result<Granted, WebError> {
    granted(ctx, user, None).await
}

/// Whether the person holds `permission` here, for showing or hiding controls.
pub async fn allows(
    ctx: &AppContext,
    user: &SignedIn,
    permission: Permission,
    organisation_id: Option<&str>,
) -> Result<bool, WebError> {
    Ok(granted(ctx, user, organisation_id)
        .await?
        .allows(permission))
}
