//! One account's page: details, memberships, roles, keys, sessions, the newest mail to it,
//! history, and its live LDAP entry beside what the portal expects.

use super::*;
use crate::store::mail_outbox::MailEntry;

/// One attribute of the LDAP entry: what the portal expects beside what LDAP holds.
struct AttributeRow {
    name: &'static str,
    expected: String,
    live: String,
    differs: bool,
}

/// The LDAP part of the account page.
enum LdapView {
    /// A linked directory entry or an account still being set up: nothing to compare.
    NotManaged,
    Unreachable(String),
    Compared {
        missing: bool,
        rows: Vec<AttributeRow>,
    },
}

impl LdapView {
    fn differences(&self) -> usize {
        match self {
            LdapView::Compared { rows, .. } => rows.iter().filter(|row| row.differs).count(),
            _ => 0,
        }
    }
}

#[derive(Template)]
#[template(path = "staff/account.html")]
pub(super) struct AccountPage {
    layout: Layout,
    notice: Option<String>,
    person: Person,
    status: &'static str,
    created_at: i64,
    /// When the account was locked, and why (when a reason was given).
    locked: Option<(i64, String)>,
    memberships: Vec<PersonMembership>,
    roles: Vec<&'static str>,
    keys: Vec<StoredKey>,
    /// When each live session expires.
    sessions: Vec<i64>,
    ldap: LdapView,
    ldap_pending: bool,
    history: Vec<HistoryRow>,
    /// The newest messages to the person's address, with their delivery.
    mails: Vec<MailEntry>,
    /// The resources the person may use: (name, group, organisation).
    resources: Vec<(String, String, String)>,
    /// What the contact form shows (the person's values, or what was typed).
    surname: String,
    given_name: String,
    email: String,
    errors: FormErrors,
    may: Granted,
    /// False for a staff account seen by someone who is not a site administrator (and for
    /// your own account): only resync is offered then.
    may_change: bool,
    /// The staff member's own account.
    own: bool,
}

impl AccountPage {
    fn can(&self, permission: &str) -> bool {
        let deleted = self.person.status == AccountStatus::Deleted;
        if permission != "resync" && !self.may_change {
            return false;
        }
        // Nobody locks or deletes themselves; the controls are not offered.
        if self.own && (permission == "lock" || permission == "delete") {
            return false;
        }
        let wanted = match permission {
            "edit" => Permission::EditAccounts,
            "reset" => Permission::SendPasswordReset,
            "lock" => Permission::LockAccounts,
            "keys" => Permission::RemoveKeys,
            "resync" => Permission::ResyncAccounts,
            "delete" => Permission::DeleteAccounts,
            _ => return false,
        };
        !deleted && self.may.allows(wanted)
    }
}

struct HistoryRow {
    when: i64,
    actor: String,
    action: String,
    details: String,
    client_ip: String,
}

impl From<RecordedEvent> for HistoryRow {
    fn from(event: RecordedEvent) -> Self {
        Self {
            when: event.occurred_at,
            actor: event.actor_name.unwrap_or_else(|| "Roster".into()),
            action: event.action,
            details: event.details,
            client_ip: event.client_ip.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

pub async fn account(
    ctx: web::Data<AppContext>,
    user: SignedIn,
    path: web::Path<String>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, WebError> {
    let person = staff_and_account(&ctx, &user, Permission::ViewAccounts, &path).await?;
    let notice = match query.done.as_deref() {
        Some("contact") => Some("Saved. The LDAP entry follows."),
        Some("contact-mail-failed") => Some(
            "Saved, but the notification to the old and new address could not be sent: tell the person yourself.",
        ),
        Some("reset") => {
            Some("A password-reset link was emailed to the person. It works once, for one hour.")
        }
        Some("locked") => Some(
            "The account is locked: its sessions ended, it cannot sign in, and its LDAP entry no longer has a password or keys.",
        ),
        Some("unlocked") => {
            Some("The account is unlocked: sign-in, LDAP bind and SSH keys work again.")
        }
        Some("key-removed") => Some("The key was removed from the account and from LDAP."),
        Some("resynced") => {
            Some("The entry and the groups were rewritten from the portal's state.")
        }
        _ => None,
    };
    let notice = crate::web::notice::take(&user.session, query.done.as_deref(), notice);
    let page = account_page(&ctx, &user, person, notice, FormErrors::default(), None).await?;
    render(&page)
}

/// What staff typed into the contact form, shown again when it had errors.
pub(super) struct TypedContact {
    pub(super) surname: String,
    pub(super) given_name: String,
    pub(super) email: String,
}

pub(super) async fn account_page(
    ctx: &AppContext,
    user: &SignedIn,
    person: Person,
    notice: Option<String>,
    errors: FormErrors,
    typed: Option<TypedContact>,
) -> Result<AccountPage, WebError> {
    let may = guard::site_wide(ctx, user).await?;
    let may_change = staff_actions::may_change_account(ctx, &user.person, &person).await?;
    let memberships = ctx.store.memberships_of_person(&person.id).await?;
    let roles = ctx
        .store
        .person_roles(&person.id)
        .await?
        .iter()
        .filter_map(|role| Role::parse(role))
        .filter(|role| role.is_site_wide())
        .map(Role::label)
        .collect();
    let keys = ctx.store.keys_of(&person.id).await?;
    let sessions = ctx
        .store
        .session_expiries_of(&person.id, ctx.clock.now())
        .await?
        .into_iter()
        .collect();
    let ldap = ldap_view(ctx, &person).await?;
    let ldap_pending = ctx
        .store
        .has_pending_job(JobKind::SyncAccount, &person.id)
        .await?;
    let history = ctx
        .store
        .audit_of_person(&person.id, 100)
        .await?
        .into_iter()
        .map(HistoryRow::from)
        .collect();
    let mails = ctx.store.mails_to(&person.email, 10).await?;
    let resources = ctx
        .store
        .resources_usable_by(&person.id, &ctx.clock.today_iso())
        .await?
        .into_iter()
        .map(|(resource, organisation)| (resource.name, resource.group_name, organisation))
        .collect();
    let typed = typed.unwrap_or_else(|| TypedContact {
        surname: person.surname.clone(),
        given_name: person.given_name.clone().unwrap_or_default(),
        email: person.email.clone(),
    });
    Ok(AccountPage {
        layout: Layout::for_user(user)?,
        notice,
        status: status_label(&person),
        created_at: person.created_at,
        locked: person
            .locked_at
            .map(|at| (at, person.lock_reason.clone().unwrap_or_default())),
        memberships,
        roles,
        keys,
        sessions,
        ldap,
        ldap_pending,
        history,
        mails,
        resources,
        surname: typed.surname,
        given_name: typed.given_name,
        email: typed.email,
        errors,
        may,
        may_change,
        own: person.id == user.person.id,
        person,
    })
}

async fn ldap_view(ctx: &AppContext, person: &Person) -> Result<LdapView, WebError> {
    let Some(expected) = expected_account(ctx, person).await? else {
        return Ok(LdapView::NotManaged);
    };
    if person.status == AccountStatus::Deleted {
        return Ok(LdapView::NotManaged);
    }
    let live = match ctx.directory.account_entry(&expected.username).await {
        Ok(live) => live,
        Err(error) => return Ok(LdapView::Unreachable(error.to_string())),
    };
    let missing = live.is_none();
    let live = live.unwrap_or_default();
    let rows = expected
        .owned_attributes()
        .into_iter()
        .map(|(name, expected)| compare(name, expected, &live))
        .collect();
    Ok(LdapView::Compared { missing, rows })
}

/// Compares one attribute as sets of values. Password hashes are never shown.
fn compare(name: &'static str, mut expected: Vec<String>, live: &LiveEntry) -> AttributeRow {
    let mut held = live
        .iter()
        .find(|(attribute, _)| attribute.eq_ignore_ascii_case(name))
        .map(|(_, values)| values.clone())
        .unwrap_or_default();
    expected.sort();
    held.sort();
    let differs = expected != held;
    let show = |values: &[String]| -> String {
        if values.is_empty() {
            return "(none)".into();
        }
        match name {
            "userPassword" => "a password hash".into(),
            "sshPublicKey" => format!("{} key(s)", values.len()),
            _ => values.join(", "),
        }
    };
    let mut live_text = show(&held);
    if differs && name == "userPassword" && !held.is_empty() && !expected.is_empty() {
        live_text = "a different password hash".into();
    }
    AttributeRow {
        name,
        expected: show(&expected),
        live: live_text,
        differs,
    }
}
