//! The list of organisations a person may see, and creating one (site admins).

use super::*;

#[derive(Template)]
#[template(path = "orgs/list.html")]
struct ListPage {
    layout: Layout,
    organisations: Vec<Organisation>,
    can_create: bool,
    errors: FormErrors,
    form: CreateForm,
}

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    short_name: String,
    #[serde(default)]
    description: String,
}

async fn list_page(
    ctx: &AppContext,
    user: &SignedIn,
    errors: FormErrors,
    form: CreateForm,
) -> Result<ListPage, WebError> {
    let can_create = guard::allows(ctx, user, Permission::CreateOrganisation, None).await?;
    let sees_all =
        can_create || guard::allows(ctx, user, Permission::ViewOrganisation, None).await?;
    let organisations = if sees_all {
        ctx.store.all_organisations().await?
    } else {
        ctx.store.organisations_of(&user.person.id).await?
    };
    Ok(ListPage {
        layout: Layout::for_user(user)?,
        organisations,
        can_create,
        errors,
        form,
    })
}

pub async fn list(ctx: web::Data<AppContext>, user: SignedIn) -> Result<HttpResponse, WebError> {
    render(&list_page(&ctx, &user, FormErrors::default(), CreateForm::default()).await?)
}

pub async fn create(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::CreateOrganisation, None).await?;
    let form = form.into_inner();
    let mut errors = FormErrors::default();
    let name = errors.check(OrganisationName::parse(&form.name));
    let short_name = errors.check(ShortName::parse(&form.short_name));
    let description = errors.check(Description::parse(&form.description));
    let (Some(name), Some(short_name), Some(description)) = (name, short_name, description) else {
        return render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &list_page(&ctx, &user, errors, form).await?,
        );
    };
    let ip = crate::web::audit_ip(&req, &ctx);
    let created = create_organisation(
        &ctx,
        NewOrganisationRequest {
            name,
            short_name,
            description,
            actor_id: Some(&user.person.id),
            client_ip: ip.as_deref(),
        },
    )
    .await;
    match created {
        Ok(organisation) => Ok(see_other(&format!("/orgs/{}?done=created", organisation.id))),
        Err(OrganisationError::ShortNameTaken(_)) => {
            errors.add(crate::domain::FieldError::new(
                "short_name",
                "This name is already taken, by another organisation or by a group or person in the directory. Choose another.",
            ));
            render_with_status(StatusCode::CONFLICT, &list_page(&ctx, &user, errors, form).await?)
        }
        Err(OrganisationError::GidRangeExhausted) => Err(WebError::Conflict(
            "No group number is left in the configured range. Ask the site administrators to widen ldap.gid_number_max."
                .into(),
        )),
        Err(OrganisationError::Directory(error)) => Err(WebError::Unavailable(format!(
            "The directory could not be asked which group numbers are free, so nothing was created. Try again shortly. ({error})"
        ))),
        Err(OrganisationError::Store(error)) => Err(error.into()),
    }
}
