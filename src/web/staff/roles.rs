//! The site-wide staff roles: granting and revoking helpdesk and site admin.

use super::*;

#[derive(Template)]
#[template(path = "staff/staff.html")]
struct StaffPage {
    layout: Layout,
    notice: Option<&'static str>,
    grants: Vec<StaffGrant>,
    roles: [Role; 2],
    email: String,
    role: String,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct StaffQuery {
    done: Option<String>,
}

async fn staff_page(
    ctx: &AppContext,
    user: &SignedIn,
    notice: Option<&'static str>,
    typed: Option<&GrantForm>,
    errors: FormErrors,
) -> Result<StaffPage, WebError> {
    Ok(StaffPage {
        layout: Layout::for_user(user)?,
        notice,
        grants: ctx.store.staff().await?,
        roles: [Role::Helpdesk, Role::SiteAdmin],
        email: typed.map(|form| form.email.clone()).unwrap_or_default(),
        role: typed.map(|form| form.role.clone()).unwrap_or_default(),
        errors,
    })
}

pub async fn staff(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    query: web::Query<StaffQuery>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageStaff, None).await?;
    let notice = match query.done.as_deref() {
        Some("granted") => Some("The role was granted."),
        Some("already") => Some("They already held that role."),
        Some("revoked") => Some("The role was revoked."),
        _ => None,
    };
    render(&staff_page(&ctx, &user, notice, None, FormErrors::default()).await?)
}

#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

fn staff_role(value: &str) -> Option<Role> {
    Role::parse(value).filter(|role| role.is_site_wide())
}

pub async fn grant(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    form: web::Form<GrantForm>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageStaff, None).await?;
    let mut errors = FormErrors::default();
    let role = staff_role(&form.role);
    if role.is_none() {
        errors.add(FieldError::new(
            "role",
            "Choose Helpdesk or Site administrator.",
        ));
    }
    let email = errors.check(Email::parse(&form.email));
    let granted = match (role, email, errors.is_empty()) {
        (Some(role), Some(email), true) => {
            let ip = crate::web::audit_ip(&req, &ctx);
            let actor = actor(&user, ip.as_deref());
            match staff_actions::grant_staff_role(&ctx, actor, &email, role).await {
                Err(StaffActionError::NoActiveAccount) => {
                    errors.add(FieldError::new(
                        "email",
                        "No active account has this email address. Invite the person first.",
                    ));
                    None
                }
                other => Some(other?),
            }
        }
        _ => None,
    };
    let Some(granted) = granted else {
        let page = staff_page(&ctx, &user, None, Some(&form), errors).await?;
        return render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    Ok(see_other(if granted {
        "/admin/staff?done=granted"
    } else {
        "/admin/staff?done=already"
    }))
}

pub async fn revoke(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageStaff, None).await?;
    let (person_id, role) = path.into_inner();
    let role = staff_role(&role).ok_or(WebError::NotFound)?;
    let person = ctx
        .store
        .person_by_id(&person_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let ip = crate::web::audit_ip(&req, &ctx);
    let revoked =
        staff_actions::revoke_staff_role(&ctx, actor(&user, ip.as_deref()), &person, role).await?;
    if !revoked {
        return Err(WebError::NotFound);
    }
    Ok(see_other("/admin/staff?done=revoked"))
}
