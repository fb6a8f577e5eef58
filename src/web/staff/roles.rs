//! The site-wide staff roles: granting and revoking helpdesk and site admin.

use super::*;
use crate::web::confirm::Confirmation;

#[derive(Template)]
#[template(path = "staff/staff.html")]
struct StaffPage {
    layout: Layout,
    notice: Option<String>,
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
    notice: Option<String>,
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
    let generic = match query.done.as_deref() {
        Some("granted") => Some("The role was granted."),
        Some("already") => Some("They already held that role."),
        Some("revoked") => Some("The role was revoked."),
        _ => None,
    };
    let notice = crate::web::notice::take(&user.session, query.done.as_deref(), generic);
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
            let result = staff_actions::grant_staff_role(&ctx, actor, &email, role).await;
            if let (Ok(granted), Some(person)) = (&result, ctx.store.person_by_email(&email).await?)
            {
                let (code, text) = if *granted {
                    ("granted", "now has")
                } else {
                    ("already", "already had")
                };
                crate::web::notice::keep(
                    &user.session,
                    code,
                    format!(
                        "{} {text} the {} role.",
                        person.display_name(),
                        role.label().to_lowercase()
                    ),
                );
            }
            match result {
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

/// `GET /admin/staff/{person}/{role}/revoke`: asks before revoking; 404 when the person
/// does not hold the role, as the revocation answers.
pub async fn confirm_revoke(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    guard::require(&ctx, &user, Permission::ManageStaff, None).await?;
    let (person_id, role) = path.into_inner();
    let role = staff_role(&role).ok_or(WebError::NotFound)?;
    let grant = ctx
        .store
        .staff()
        .await?
        .into_iter()
        .find(|grant| grant.person.id == person_id && grant.role == role)
        .ok_or(WebError::NotFound)?;
    let person = grant.person;
    if let Some(refusal) =
        staff_actions::refusal_of(&ctx, &user.person, &person, AccountAction::RevokeStaffRole)
            .await?
    {
        return Err(StaffActionError::Refused(refusal).into());
    }
    let name = person.display_name();
    let role_name = role.label().to_lowercase();
    let loses = match role {
        Role::SiteAdmin => {
            "delete accounts, manage organisations, the directory outbox or staff roles"
        }
        _ => "find and fix accounts on the staff pages",
    };
    Confirmation {
        layout: Layout::for_user(&user)?,
        question: format!("Revoke the {role_name} role from {name}?"),
        consequences: vec![format!(
            "{name} will no longer be able to {loses}. Their account and memberships are kept."
        )],
        action: format!("/admin/staff/{}/{}/revoke", person.id, role.as_str()),
        hidden: Vec::new(),
        button: "Yes, revoke the role",
        cancel: "/admin/staff".into(),
    }
    .render()
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
    crate::web::notice::keep(
        &user.session,
        "revoked",
        format!(
            "{} no longer has the {} role.",
            person.display_name(),
            role.label().to_lowercase()
        ),
    );
    Ok(see_other("/admin/staff?done=revoked"))
}
