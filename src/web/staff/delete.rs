//! Deleting an account, after the admin types its username to confirm.

use super::*;

#[derive(Template)]
#[template(path = "staff/delete.html")]
struct DeletePage {
    layout: Layout,
    person: Person,
    /// What the admin must type to confirm: the username, or the email address.
    confirm_with: String,
    memberships: Vec<PersonMembership>,
    errors: FormErrors,
}

fn confirmation_of(person: &Person) -> String {
    person
        .username
        .clone()
        .unwrap_or_else(|| person.email.clone())
}

pub async fn delete_form(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::DeleteAccounts, &path).await?;
    if person.status == AccountStatus::Deleted {
        return Err(deleted_account());
    }
    render(&DeletePage {
        layout: Layout::for_user(&user)?,
        confirm_with: confirmation_of(&person),
        memberships: ctx.store.memberships_of_person(&person.id).await?,
        person,
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::DeleteAccounts, &path).await?;
    if person.status == AccountStatus::Deleted {
        return Err(deleted_account());
    }
    let confirm_with = confirmation_of(&person);
    if form.confirm.trim() != confirm_with {
        let mut errors = FormErrors::default();
        errors.add(FieldError::new(
            "confirm",
            format!("Type {confirm_with} exactly to confirm the deletion."),
        ));
        return render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &DeletePage {
                layout: Layout::for_user(&user)?,
                memberships: ctx.store.memberships_of_person(&person.id).await?,
                confirm_with,
                person,
                errors,
            },
        );
    }
    let ip = crate::web::audit_ip(&req, &ctx);
    let details = format!(
        "deleted {} ({}, uidNumber {})",
        person.display_name(),
        confirm_with,
        person
            .uid_number
            .map_or_else(|| "none".to_string(), |uid| uid.to_string())
    );
    staff_actions::delete(&ctx, actor(&user, ip.as_deref()), &person, details).await?;
    crate::web::notice::keep(
        &user.session,
        "deleted",
        format!(
            "{}’s account ({confirm_with}) was deleted. Its username and uidNumber will never be given to anyone else.",
            person.display_name()
        ),
    );
    Ok(see_other("/admin/accounts?done=deleted"))
}
