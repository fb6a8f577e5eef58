//! The resource page's forms: open or restrict it, its access list, its assignment, its
//! end date and details, and for site admins retiring, moving and deleting its group.

use super::resources::{resource_actor, resource_error, resource_of};
use super::*;
use crate::domain::Site;
use crate::store::resources::ResourceChange;
use crate::usecases::resources::{
    NotMembers, ResourceError, change_resource, check_change, members_by_username,
};
use crate::web::confirm::Confirmation;

#[derive(Deserialize)]
pub struct ResourceChangeForm {
    version: i64,
    #[serde(default)]
    restricted: String,
    #[serde(default)]
    usernames: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    ends_on: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    description: String,
}

/// `POST /orgs/{org}/resources/{resource}/{change}`: `access` (open or restricted), `list`,
/// `assign`, `end-date`, `details`, and for site admins `retire`, `move` and `delete-group`.
pub async fn change(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String, String)>,
    form: web::Form<ResourceChangeForm>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, resource_id, what) = path.into_inner();
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageResources).await?;
    let resource = resource_of(&ctx, &organisation, &resource_id).await?;
    let members_named = |names: Vec<String>| {
        let (ctx, resource, organisation) = (&ctx, &resource, &organisation);
        async move {
            members_by_username(ctx, resource, &names)
                .await
                .map_err(|error| match error {
                    NotMembers::These(strangers) => WebError::BadRequest(format!(
                        "{} is not a member of {}; nothing was changed.",
                        strangers
                            .into_iter()
                            .map(|(_, name)| name)
                            .collect::<Vec<_>>()
                            .join(", "),
                        organisation.name
                    )),
                    NotMembers::Store(error) => error.into(),
                })
        }
    };
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|word| !word.is_empty())
            .map(str::to_string)
            .collect()
    };
    let people;
    let ends_on;
    let details;
    let change = match what.as_str() {
        "access" => ResourceChange::Restrict(form.restricted == "restricted"),
        "list" => {
            people = members_named(words(&form.usernames)).await?;
            ResourceChange::AccessList(&people)
        }
        "assign" => {
            people = members_named(words(&form.username)).await?;
            ResourceChange::Assign(people.first().map(String::as_str))
        }
        "end-date" => {
            ends_on = EndDate::parse_optional(&form.ends_on, ctx.clock.today())
                .map_err(|error| WebError::BadRequest(error.message))?
                .map(EndDate::to_iso);
            ResourceChange::EndsOn(ends_on.as_deref())
        }
        "details" => {
            details = (
                OrganisationName::parse(&form.name)
                    .map_err(|error| WebError::BadRequest(error.message))?,
                Site::parse(&form.site).map_err(|error| WebError::BadRequest(error.message))?,
                Description::parse(&form.description)
                    .map_err(|error| WebError::BadRequest(error.message))?,
            );
            ResourceChange::Details {
                name: details.0.as_str(),
                site: &details.1,
                description: &details.2,
            }
        }
        "retire" => ResourceChange::Retire,
        "delete-group" => ResourceChange::DeleteGroup,
        "move" => {
            let ip = crate::web::audit_ip(&req, &ctx);
            let to = ShortName::parse(&form.organisation)
                .ok()
                .ok_or_else(|| WebError::BadRequest("Choose an organisation.".into()))?;
            let to = ctx
                .store
                .organisation_by_short_name(&to)
                .await?
                .ok_or_else(|| {
                    WebError::BadRequest("No organisation has that short name.".into())
                })?;
            crate::usecases::resources::move_resource(
                &ctx,
                &resource,
                form.version,
                resource_actor(&user, &granted, ip.as_deref()),
                &to,
            )
            .await
            .map_err(|error| match error {
                ResourceError::NameTaken(name) => WebError::Conflict(format!(
                    "The group name {name} is taken there; nothing was moved."
                )),
                other => resource_error(other),
            })?;
            return Ok(see_other(&format!(
                "/orgs/{}/resources/{}?done=changed",
                to.id, resource.id
            )));
        }
        _ => return Err(WebError::NotFound),
    };
    let ip = crate::web::audit_ip(&req, &ctx);
    change_resource(
        &ctx,
        &resource,
        form.version,
        resource_actor(&user, &granted, ip.as_deref()),
        &[change],
    )
    .await
    .map_err(resource_error)?;
    Ok(see_other(&format!(
        "/orgs/{}/resources/{}?done=changed",
        organisation.id, resource.id
    )))
}

/// `GET /orgs/{org}/resources/{resource}/{retire|delete-group}`: what retiring a resource or
/// deleting its group will do, asked before the POST of the same address does it.
pub async fn confirm(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, WebError> {
    let (organisation_id, resource_id, what) = path.into_inner();
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &organisation_id, Permission::ManageResources).await?;
    let resource = resource_of(&ctx, &organisation, &resource_id).await?;
    let (change, question, consequences, button) = match what.as_str() {
        "retire" => (
            ResourceChange::Retire,
            format!("Retire {} of {}?", resource.name, organisation.name),
            vec![
                format!(
                    "Everyone loses access to it now: its group {} is emptied in LDAP.",
                    resource.group_name
                ),
                format!(
                    "The group and its gidNumber {} are kept; a retired resource cannot be changed again.",
                    resource.gid_number
                ),
            ],
            "Yes, retire it",
        ),
        "delete-group" => (
            ResourceChange::DeleteGroup,
            format!(
                "Delete the group {} of the retired resource {}?",
                resource.group_name, resource.name
            ),
            vec![format!(
                "The group is removed from LDAP. Its gidNumber {} is never handed out again.",
                resource.gid_number
            )],
            "Yes, delete the group",
        ),
        _ => return Err(WebError::NotFound),
    };
    check_change(
        &ctx,
        &resource,
        &resource_actor(&user, &granted, None),
        &[change],
    )
    .map_err(resource_error)?;
    let page = format!("/orgs/{}/resources/{}", organisation.id, resource.id);
    Confirmation {
        layout: Layout::for_user(&user)?,
        question,
        consequences,
        action: format!("{page}/{what}"),
        hidden: vec![("version", resource.version.to_string())],
        button,
        cancel: page,
    }
    .render()
}
