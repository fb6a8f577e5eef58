//! An organisation's overview page and its description.

use super::*;

#[derive(Template)]
#[template(path = "orgs/show.html")]
struct ShowPage<'a> {
    layout: Layout,
    organisation: &'a Organisation,
    nav: OrgNav,
    notice: Option<&'static str>,
    pending: bool,
    member_count: i64,
    description: String,
    errors: FormErrors,
}
fn show_page<'a>(
    user: &SignedIn,
    organisation: &'a Organisation,
    granted: &Granted,
    notice: Option<&'static str>,
    description: String,
    errors: FormErrors,
) -> Result<ShowPage<'a>, WebError> {
    Ok(ShowPage {
        layout: Layout::for_user(user)?,
        nav: org_nav(granted, organisation, "overview"),
        pending: organisation.sync_pending,
        organisation,
        notice,
        member_count: organisation.member_count,
        description,
        errors,
    })
}

pub async fn show(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::ViewOrganisation).await?;
    let description = organisation.description.clone();
    render(&show_page(
        &user,
        &organisation,
        &granted,
        notice_for(query.done.as_deref()),
        description,
        FormErrors::default(),
    )?)
}

#[derive(Deserialize)]
pub struct DescriptionForm {
    description: String,
    version: i64,
}

pub async fn update_description(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<DescriptionForm>,
) -> Result<HttpResponse, WebError> {
    let (organisation, granted) =
        guard::organisation(&ctx, &user, &path, Permission::EditOrganisation).await?;
    let description = match Description::parse(&form.description) {
        Ok(description) => description,
        Err(error) => {
            let mut errors = FormErrors::default();
            errors.add(error);
            let page = show_page(
                &user,
                &organisation,
                &granted,
                None,
                form.description.clone(),
                errors,
            )?;
            return render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let ip = crate::web::audit_ip(&req, &ctx);
    let actor = org_actor(&user, &granted, ip.as_deref());
    organisations::update_description(&ctx, actor, &organisation, form.version, &description)
        .await?;
    Ok(see_other(&format!(
        "/orgs/{}?done=description",
        organisation.id
    )))
}
