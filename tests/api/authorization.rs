//! The authorization matrix: every route the portal serves × every kind of visitor, checked
//! for allowed / 403 / redirect to sign-in. The route list comes from `roster::web::ROUTES`,
//! so a new route fails this test until its row here says who may use it.

use std::collections::BTreeSet;

use roster::domain::Role;

use crate::keys::{add_key, ed25519_key};
use crate::support::app::{Browser, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Visitor {
    Anonymous,
    Member,
    Manager,
    OwnerOfAnother,
    Helpdesk,
    Admin,
}

use Visitor::{Admin, Anonymous, Helpdesk, Manager, Member, OwnerOfAnother};

const EVERYONE: [Visitor; 6] = [Anonymous, Member, Manager, OwnerOfAnother, Helpdesk, Admin];

/// Who may use a route.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, signed in or not (the page itself may then say 4xx for bad input).
    Public,
    /// Anyone signed in; anonymous visitors are sent to sign in.
    SignedIn,
    /// Only these; other signed-in visitors get 403, anonymous ones are sent to sign in.
    Only(&'static [Visitor]),
}

const STAFF: &[Visitor] = &[Helpdesk, Admin];
const ADMIN: &[Visitor] = &[Admin];
const ORG_READERS: &[Visitor] = &[Member, Manager, Helpdesk, Admin];
const ORG_MANAGERS: &[Visitor] = &[Manager, Admin];
const DIRECTORY_SEARCHERS: &[Visitor] = &[Manager, Helpdesk, Admin];

/// The decision for every route, and every status an allowed visitor may get with the
/// sample input (the page, a redirect, or the handler's own answer to that input: 404 for
/// an id that is not theirs, 409, 410, 422...). The test fails if this list and the
/// portal's routes differ in any way, or an allowed visitor gets anything else.
const MATRIX: &[(&str, &str, Access, &[u16])] = &[
    ("get", "/healthz", Access::Public, &[200]),
    ("get", "/readyz", Access::Public, &[200]),
    // No session opens it: only the metrics token does, and the matrix's portal has none.
    ("get", "/metrics", Access::Public, &[404]),
    ("get", "/static/roster.css", Access::Public, &[200]),
    ("get", "/static/copy.js", Access::Public, &[200]),
    ("get", "/", Access::SignedIn, &[200]),
    ("get", "/sign-in", Access::Public, &[200, 303]),
    ("post", "/sign-in", Access::Public, &[400]),
    ("post", "/sign-out", Access::Public, &[303]),
    ("post", "/auth/oidc/start", Access::Public, &[404]),
    ("get", "/auth/oidc/callback", Access::Public, &[404]),
    ("get", "/invitations/{token}", Access::Public, &[404]),
    ("post", "/invitations/{token}", Access::Public, &[404]),
    (
        "post",
        "/invitations/{token}/join",
        Access::SignedIn,
        &[404],
    ),
    ("get", "/admin/jobs", Access::Only(ADMIN), &[200]),
    (
        "post",
        "/admin/jobs/{job}/retry",
        Access::Only(ADMIN),
        &[404],
    ),
    // No SCIM target is configured here: an admin is told so (404).
    ("get", "/admin/scim/{target}", Access::Only(ADMIN), &[404]),
    (
        "post",
        "/admin/scim/{target}/repair",
        Access::Only(ADMIN),
        &[404],
    ),
    ("get", "/admin/drift", Access::Only(ADMIN), &[200]),
    // No item named: 400. The sample slapd's unknown entries exceed the threshold: 409.
    ("get", "/admin/drift/repair", Access::Only(ADMIN), &[400]),
    ("post", "/admin/drift/repair", Access::Only(ADMIN), &[400]),
    (
        "get",
        "/admin/drift/repair-all",
        Access::Only(ADMIN),
        &[409],
    ),
    (
        "post",
        "/admin/drift/repair-all",
        Access::Only(ADMIN),
        &[409],
    ),
    ("get", "/admin/accounts", Access::Only(STAFF), &[200]),
    (
        "get",
        "/admin/accounts/{person}",
        Access::Only(STAFF),
        &[200],
    ),
    (
        "post",
        "/admin/accounts/{person}/contact",
        Access::Only(STAFF),
        &[422],
    ),
    (
        "post",
        "/admin/accounts/{person}/password-reset",
        Access::Only(STAFF),
        &[303],
    ),
    (
        "post",
        "/admin/accounts/{person}/lock",
        Access::Only(STAFF),
        &[303],
    ),
    (
        "post",
        "/admin/accounts/{person}/unlock",
        Access::Only(STAFF),
        &[303],
    ),
    // Each removal is asked first by a GET of its own address (gone once removed: 404).
    (
        "get",
        "/admin/accounts/{person}/keys/{key}/remove",
        Access::Only(STAFF),
        &[200, 404],
    ),
    (
        "post",
        "/admin/accounts/{person}/keys/{key}/remove",
        Access::Only(STAFF),
        &[303, 404],
    ),
    (
        "post",
        "/admin/accounts/{person}/resync",
        Access::Only(STAFF),
        &[303],
    ),
    (
        "get",
        "/admin/accounts/{person}/delete",
        Access::Only(ADMIN),
        &[200],
    ),
    (
        "post",
        "/admin/accounts/{person}/delete",
        Access::Only(ADMIN),
        &[422],
    ),
    ("get", "/admin/staff", Access::Only(ADMIN), &[200]),
    ("post", "/admin/staff", Access::Only(ADMIN), &[422]),
    (
        "get",
        "/admin/staff/{person}/{role}/revoke",
        Access::Only(ADMIN),
        &[404],
    ),
    (
        "post",
        "/admin/staff/{person}/{role}/revoke",
        Access::Only(ADMIN),
        &[404],
    ),
    ("get", "/account", Access::SignedIn, &[200]),
    ("post", "/account/name", Access::SignedIn, &[422]),
    ("post", "/account/password", Access::SignedIn, &[422]),
    (
        "get",
        "/account/identities/unlink",
        Access::SignedIn,
        &[404, 409],
    ),
    (
        "post",
        "/account/identities/unlink",
        Access::SignedIn,
        &[303],
    ),
    ("get", "/password-reset", Access::Public, &[200]),
    ("post", "/password-reset", Access::Public, &[422]),
    ("get", "/password-reset/{token}", Access::Public, &[410]),
    ("post", "/password-reset/{token}", Access::Public, &[410]),
    ("get", "/account/keys", Access::SignedIn, &[200, 303]),
    ("post", "/account/keys", Access::SignedIn, &[303, 422]),
    (
        "post",
        "/account/keys/upload",
        Access::SignedIn,
        &[303, 400],
    ),
    (
        "get",
        "/account/keys/{key}/remove",
        Access::SignedIn,
        &[303, 404],
    ),
    (
        "post",
        "/account/keys/{key}/remove",
        Access::SignedIn,
        &[303, 404],
    ),
    ("get", "/account/setup", Access::SignedIn, &[200, 303]),
    ("post", "/account/setup", Access::SignedIn, &[303, 422]),
    (
        "post",
        "/account/setup/confirm",
        Access::SignedIn,
        &[303, 422],
    ),
    ("get", "/orgs", Access::SignedIn, &[200]),
    ("post", "/orgs", Access::Only(ADMIN), &[422]),
    ("get", "/orgs/{org}", Access::Only(ORG_READERS), &[200]),
    (
        "post",
        "/orgs/{org}/description",
        Access::Only(ORG_MANAGERS),
        &[303, 409],
    ),
    (
        "get",
        "/orgs/{org}/members",
        Access::Only(ORG_READERS),
        &[200],
    ),
    (
        "post",
        "/orgs/{org}/members",
        Access::Only(ORG_MANAGERS),
        &[400],
    ),
    (
        "get",
        "/orgs/{org}/members/{membership}",
        Access::Only(ORG_MANAGERS),
        &[200],
    ),
    (
        "get",
        "/orgs/{org}/members/{membership}/remove",
        Access::Only(ORG_MANAGERS),
        &[200],
    ),
    (
        "post",
        "/orgs/{org}/members/{membership}/{change}",
        Access::Only(ORG_MANAGERS),
        &[303, 409],
    ),
    (
        "get",
        "/orgs/{org}/directory",
        Access::Only(DIRECTORY_SEARCHERS),
        &[200],
    ),
    (
        "get",
        "/orgs/{org}/invitations",
        Access::Only(ORG_MANAGERS),
        &[200],
    ),
    (
        "post",
        "/orgs/{org}/invitations",
        Access::Only(ORG_MANAGERS),
        &[422],
    ),
    // Resources: members read them; owners, managers and admins add and change them (the
    // matrix's sample form is not a valid resource, and "role" is not a change: 404).
    (
        "get",
        "/orgs/{org}/resources",
        Access::Only(ORG_READERS),
        &[200],
    ),
    (
        "post",
        "/orgs/{org}/resources",
        Access::Only(ORG_MANAGERS),
        &[422],
    ),
    (
        "get",
        "/orgs/{org}/resources/{resource}",
        Access::Only(ORG_READERS),
        &[200],
    ),
    (
        "get",
        "/orgs/{org}/resources/{resource}/{change}",
        Access::Only(ORG_MANAGERS),
        &[404],
    ),
    (
        "post",
        "/orgs/{org}/resources/{resource}/{change}",
        Access::Only(ORG_MANAGERS),
        &[404],
    ),
    // The spreadsheet upload and its confirmation take multipart forms (the matrix sends
    // a plain one: 400 once allowed); an unknown batch is 404.
    (
        "post",
        "/orgs/{org}/invitations/batch",
        Access::Only(ORG_MANAGERS),
        &[400],
    ),
    (
        "post",
        "/orgs/{org}/invitations/batch/confirm",
        Access::Only(ORG_MANAGERS),
        &[400],
    ),
    (
        "get",
        "/orgs/{org}/invitations/batches/{batch}",
        Access::Only(ORG_MANAGERS),
        &[404],
    ),
    (
        "get",
        "/orgs/{org}/invitations/batches/{batch}/errors.csv",
        Access::Only(ORG_MANAGERS),
        &[404],
    ),
    (
        "post",
        "/orgs/{org}/invitations/{invitation}/resend",
        Access::Only(ORG_MANAGERS),
        &[200, 409],
    ),
    (
        "get",
        "/orgs/{org}/invitations/{invitation}/revoke",
        Access::Only(ORG_MANAGERS),
        &[200, 409],
    ),
    (
        "post",
        "/orgs/{org}/invitations/{invitation}/revoke",
        Access::Only(ORG_MANAGERS),
        &[303, 409],
    ),
    ("get", "/orgs/{org}/history", Access::Only(STAFF), &[200]),
    // API clients: owners of the organisation (none in the cast for astro) and admins.
    ("get", "/orgs/{org}/clients", Access::Only(ADMIN), &[200]),
    ("post", "/orgs/{org}/clients", Access::Only(ADMIN), &[422]),
    (
        "get",
        "/orgs/{org}/clients/{client}/revoke",
        Access::Only(ADMIN),
        &[404],
    ),
    (
        "post",
        "/orgs/{org}/clients/{client}/revoke",
        Access::Only(ADMIN),
        &[404],
    ),
    ("get", "/admin/clients", Access::Only(ADMIN), &[200]),
    ("post", "/admin/clients", Access::Only(ADMIN), &[422]),
    (
        "get",
        "/admin/clients/{client}/revoke",
        Access::Only(ADMIN),
        &[404],
    ),
    (
        "post",
        "/admin/clients/{client}/revoke",
        Access::Only(ADMIN),
        &[404],
    ),
    // OAuth: client credentials, never a session (the sample form has no grant_type).
    ("post", "/oauth/token", Access::Public, &[400]),
    ("get", "/.well-known/jwks.json", Access::Public, &[200]),
    (
        "get",
        "/.well-known/oauth-authorization-server",
        Access::Public,
        &[200],
    ),
];

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Forbidden,
    SignIn,
}

fn expected(access: Access, visitor: Visitor) -> Outcome {
    match (access, visitor) {
        (Access::Public, _) => Outcome::Allowed,
        (_, Anonymous) => Outcome::SignIn,
        (Access::SignedIn, _) => Outcome::Allowed,
        (Access::Only(allowed), visitor) if allowed.contains(&visitor) => Outcome::Allowed,
        (Access::Only(_), _) => Outcome::Forbidden,
    }
}

/// What the visitor got: 403, a redirect to the sign-in page, or anything else that is
/// not a server error (the page itself, or its own 4xx for the sample input).
fn outcome_of(response: &reqwest::Response, route: &str) -> Outcome {
    let status = response.status();
    assert!(
        !status.is_server_error(),
        "{route} answered {status}, a server error"
    );
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if status == 403 {
        Outcome::Forbidden
    } else if status.is_redirection()
        && (location == "/sign-in" || location.starts_with("/sign-in?next="))
    {
        Outcome::SignIn
    } else {
        Outcome::Allowed
    }
}

/// Harmless sample input that every form parses: wrong or empty enough that nothing of
/// consequence happens, but shaped right, so the answer is the guard's, not the parser's.
const SAMPLE_FORM: &[(&str, &str)] = &[
    ("version", "1"),
    ("role", "member"),
    ("ends_on", ""),
    ("uid", ""),
    ("email", ""),
    ("surname", ""),
    ("given_name", ""),
    ("name", ""),
    ("short_name", ""),
    ("description", ""),
    ("reason", ""),
    ("confirm", ""),
    ("key", ""),
    ("username", ""),
    ("login_shell", ""),
    ("login", ""),
    ("password", ""),
    ("password_confirmation", ""),
    ("current_password", ""),
];

#[tokio::test]
async fn every_route_answers_each_kind_of_visitor_as_decided() {
    // 1. Every route the portal serves has a decision here, and nothing else is listed.
    let served: BTreeSet<(&str, &str)> = roster::web::ROUTES.iter().copied().collect();
    let decided: BTreeSet<(&str, &str)> = MATRIX
        .iter()
        .map(|(method, path, _, _)| (*method, *path))
        .collect();
    assert_eq!(
        served.difference(&decided).collect::<Vec<_>>(),
        Vec::<&(&str, &str)>::new(),
        "routes without a decision in the matrix"
    );
    assert_eq!(
        decided.difference(&served).collect::<Vec<_>>(),
        Vec::<&(&str, &str)>::new(),
        "matrix rows for routes that do not exist"
    );
    assert_eq!(MATRIX.len(), served.len(), "a route is listed twice");
    assert_eq!(decided.len(), served.len());

    // 2. The cast: one organisation with a member, a manager and a subject account, and
    //    another organisation's owner; helpdesk and admin staff.
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let astro = app.create_org("Astro", "astro").await;
    let bio = app.create_org("Bio", "bio").await;
    let member = app.activated_member(&astro, "mia").await;
    let manager = app
        .activated_with_role(&astro, "manny", Role::Manager)
        .await;
    let owner_of_another = app.activated_with_role(&bio, "olga", Role::Owner).await;
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let subject = app.activated_member(&astro, "tom").await;
    assert_eq!(add_key(&subject, &ed25519_key(9)).await.status(), 303);
    let subject_id = app.person_id("tom@example.org").await;
    let key_id = app.context.store.keys_of(&subject_id).await.unwrap()[0]
        .id
        .clone();
    let membership_id = app
        .context
        .store
        .members_page(&astro.id, Some("tom"), 1, 50, None)
        .await
        .unwrap()
        .members[0]
        .membership_id
        .clone();
    app.invite_to(&astro, "pending@example.org", "Pending", Role::Member)
        .await;
    let invitation_id = app
        .context
        .store
        .invitations_of_organisation(&astro.id)
        .await
        .unwrap()
        .into_iter()
        .find(|listed| listed.invitation.email == "pending@example.org")
        .unwrap()
        .invitation
        .id;
    let resource = app.create_resource(&astro, "scope", "device").await;
    let fill = |pattern: &str| {
        pattern
            .replace("{org}", &astro.id)
            .replace("{person}", &subject_id)
            .replace("{key}", &key_id)
            .replace("{membership}", &membership_id)
            .replace("{change}", "role")
            .replace("{invitation}", &invitation_id)
            .replace("{token}", "not-a-real-token")
            .replace("{job}", "not-a-real-job")
            .replace("{target}", "not-a-target")
            .replace("{role}", "helpdesk")
            .replace("{client}", "rc_not-a-real-client")
            .replace("{batch}", "not-a-real-batch")
            .replace("{resource}", &resource.id)
    };
    let anonymous = app.new_browser();
    let visitors: [(Visitor, &Browser); 6] = [
        (Anonymous, &anonymous),
        (Member, &member),
        (Manager, &manager),
        (OwnerOfAnother, &owner_of_another),
        (Helpdesk, &helpdesk),
        (Admin, &app.browser),
    ];
    assert_eq!(visitors.map(|(visitor, _)| visitor), EVERYONE);

    // 3. Every route as every visitor; signing out comes last for each of them.
    let mut order: Vec<&(&str, &str, Access, &[u16])> = MATRIX.iter().collect();
    order.sort_by_key(|(_, path, _, _)| *path == "/sign-out");
    let mut wrong = Vec::new();
    for (visitor, browser) in visitors {
        let token_page = if visitor == Anonymous {
            "/sign-in"
        } else {
            "/account"
        };
        let token = browser.page(token_page).await.csrf_token();
        for (method, pattern, access, statuses) in &order {
            let path = fill(pattern);
            let response = if *method == "get" {
                browser.get(&path).await
            } else {
                let mut form = vec![("csrf_token", token.as_str())];
                form.extend_from_slice(SAMPLE_FORM);
                browser.post_form(&path, &form).await
            };
            let route = format!("{} {pattern} as {visitor:?}", method.to_uppercase());
            let got = outcome_of(&response, &route);
            let want = expected(*access, visitor);
            if got != want {
                wrong.push(format!(
                    "{route}: expected {want:?}, got {got:?} ({})",
                    response.status()
                ));
            }
            let status = response.status().as_u16();
            if got == Outcome::Allowed && !statuses.contains(&status) {
                wrong.push(format!(
                    "{route}: allowed, but answered {status}, not one of {statuses:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The account routes again, on an account that holds a staff role: only site admins may
/// change it (resync changes nobody's access, so helpdesk keeps it).
const ON_STAFF: &[(&str, &str, Access, &[u16])] = &[
    (
        "get",
        "/admin/accounts/{person}",
        Access::Only(STAFF),
        &[200],
    ),
    (
        "post",
        "/admin/accounts/{person}/contact",
        Access::Only(ADMIN),
        &[422],
    ),
    (
        "post",
        "/admin/accounts/{person}/password-reset",
        Access::Only(ADMIN),
        &[303],
    ),
    (
        "post",
        "/admin/accounts/{person}/lock",
        Access::Only(ADMIN),
        &[303],
    ),
    (
        "post",
        "/admin/accounts/{person}/unlock",
        Access::Only(ADMIN),
        &[303],
    ),
    (
        "get",
        "/admin/accounts/{person}/keys/{key}/remove",
        Access::Only(ADMIN),
        &[200],
    ),
    (
        "post",
        "/admin/accounts/{person}/keys/{key}/remove",
        Access::Only(ADMIN),
        &[303],
    ),
    (
        "post",
        "/admin/accounts/{person}/resync",
        Access::Only(STAFF),
        &[303],
    ),
    (
        "get",
        "/admin/accounts/{person}/delete",
        Access::Only(ADMIN),
        &[200],
    ),
    (
        "post",
        "/admin/accounts/{person}/delete",
        Access::Only(ADMIN),
        &[422],
    ),
];

#[tokio::test]
async fn accounts_holding_a_staff_role_are_changed_only_by_site_admins() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    // The subject: a member with a POSIX account and a key, then given a staff role.
    let astro = app.create_org("Astro", "astro").await;
    let subject = app.activated_member(&astro, "tom").await;
    assert_eq!(add_key(&subject, &ed25519_key(8)).await.status(), 303);
    let granted = app
        .browser
        .submit(
            "/admin/staff",
            "/admin/staff",
            &[("email", "tom@example.org"), ("role", "helpdesk")],
        )
        .await;
    assert_eq!(granted.status(), 303);
    let subject_id = app.person_id("tom@example.org").await;
    let key_id = app.context.store.keys_of(&subject_id).await.unwrap()[0]
        .id
        .clone();
    let mut wrong = Vec::new();
    // Helpdesk first, so the admin's lock and key removal do not change what it meets.
    for (visitor, browser) in [(Helpdesk, &helpdesk), (Admin, &app.browser)] {
        let token = browser.page("/account").await.csrf_token();
        for (method, pattern, access, statuses) in ON_STAFF {
            let path = pattern
                .replace("{person}", &subject_id)
                .replace("{key}", &key_id);
            let response = if *method == "get" {
                browser.get(&path).await
            } else {
                let mut form = vec![("csrf_token", token.as_str())];
                form.extend_from_slice(SAMPLE_FORM);
                browser.post_form(&path, &form).await
            };
            let route = format!(
                "{} {pattern} on staff as {visitor:?}",
                method.to_uppercase()
            );
            let got = outcome_of(&response, &route);
            let want = expected(*access, visitor);
            if got != want {
                wrong.push(format!(
                    "{route}: expected {want:?}, got {got:?} ({})",
                    response.status()
                ));
            }
            let status = response.status().as_u16();
            if got == Outcome::Allowed && !statuses.contains(&status) {
                wrong.push(format!(
                    "{route}: allowed, but answered {status}, not one of {statuses:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
