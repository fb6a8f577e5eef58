//! One organisation's staff can never read or change another's: every organisation route,
//! with another organisation's ids, answers 403 (or 404 for ids that are not theirs).

use roster::domain::{Permission, Role};

use crate::support::app::{Browser, TestApp};

/// Every organisation route, GET and POST, with `{org}`, `{membership}` and `{invitation}`.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/orgs/{org}"),
    ("POST", "/orgs/{org}/description"),
    ("GET", "/orgs/{org}/members"),
    ("POST", "/orgs/{org}/members"),
    ("GET", "/orgs/{org}/members/{membership}"),
    ("POST", "/orgs/{org}/members/{membership}/role"),
    ("POST", "/orgs/{org}/members/{membership}/end-date"),
    ("POST", "/orgs/{org}/members/{membership}/remove"),
    ("GET", "/orgs/{org}/directory?q=smith"),
    ("GET", "/orgs/{org}/invitations"),
    ("POST", "/orgs/{org}/invitations"),
    ("POST", "/orgs/{org}/invitations/{invitation}/resend"),
    ("POST", "/orgs/{org}/invitations/{invitation}/revoke"),
    ("GET", "/orgs/{org}/history"),
];

async fn status(browser: &Browser, method: &str, path: &str, token: &str) -> u16 {
    let response = if method == "GET" {
        browser.get(path).await
    } else {
        browser
            .post_form(
                path,
                &[
                    ("csrf_token", token),
                    ("version", "1"),
                    ("role", "member"),
                    ("uid", "jsmith"),
                    ("surname", "X"),
                    ("email", "x@example.org"),
                    ("description", "hijacked"),
                ],
            )
            .await
    };
    response.status().as_u16()
}

#[tokio::test]
async fn a_manager_of_one_organisation_gets_403_on_every_route_of_another() {
    let app = TestApp::spawn().await;
    let org_a = app.create_org("Lab A", "laba").await;
    let org_b = app.create_org("Lab B", "labb").await;
    let manager_a = app
        .browser_for(&org_a, "manager-a@example.org", Role::Manager)
        .await;
    let owner_b = app
        .browser_for(&org_b, "owner-b@example.org", Role::Owner)
        .await;
    // Org B has a member and a pending invitation, so every id is real.
    app.invite_to(&org_b, "pending-b@example.org", "Pending", Role::Member)
        .await;
    let members_b = app
        .context
        .store
        .members_page(&org_b.id, None, 1, 50, None)
        .await
        .unwrap();
    let membership_b = members_b.members[0].membership_id.clone();
    let invitation_b = app
        .context
        .store
        .invitations_of_organisation(&org_b.id)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.invitation.email == "pending-b@example.org")
        .unwrap()
        .invitation
        .id;

    let token = manager_a
        .page(&format!("/orgs/{}", org_a.id))
        .await
        .csrf_token();
    for (method, route) in ROUTES {
        let path = route
            .replace("{org}", &org_b.id)
            .replace("{membership}", &membership_b)
            .replace("{invitation}", &invitation_b);
        assert_eq!(
            status(&manager_a, method, &path, &token).await,
            403,
            "{method} {path}"
        );
        // Org B's ids under org A's path find nothing of org B's.
        let cross = route
            .replace("{org}", &org_a.id)
            .replace("{membership}", &membership_b)
            .replace("{invitation}", &invitation_b);
        if cross.contains(&membership_b) || cross.contains(&invitation_b) {
            let code = status(&manager_a, method, &cross, &token).await;
            assert!(code == 404 || code == 403, "{method} {cross}: {code}");
        }
    }
    // Nothing of org B changed.
    let after = app
        .context
        .store
        .organisation(&org_b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.description, "");
    assert_eq!(
        app.context
            .store
            .members_page(&org_b.id, None, 1, 50, None)
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(app.ldap_member_uids("labb").await, Some(vec![]));
    // Org B's own owner still gets in.
    assert_eq!(
        owner_b
            .get(&format!("/orgs/{}/history", org_b.id))
            .await
            .status(),
        200
    );
    // And the organisation list shows each only their own.
    let list = manager_a.page("/orgs").await;
    assert_eq!(
        list.select_all("table.data tbody td:first-child"),
        vec!["Lab A"]
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn members_see_but_cannot_change_and_only_owners_read_history() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Lab", "lab").await;
    let member = app
        .browser_for(&org, "member@example.org", Role::Member)
        .await;
    let manager = app
        .browser_for(&org, "manager@example.org", Role::Manager)
        .await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    let token = member.page(&format!("/orgs/{}", org.id)).await.csrf_token();
    assert_eq!(
        member
            .get(&format!("/orgs/{}/members", org.id))
            .await
            .status(),
        200
    );
    for (method, route) in [
        ("GET", "/orgs/{org}/directory"),
        ("GET", "/orgs/{org}/invitations"),
        ("POST", "/orgs/{org}/invitations"),
        ("POST", "/orgs/{org}/members"),
        ("GET", "/orgs/{org}/history"),
    ] {
        let path = route.replace("{org}", &org.id);
        assert_eq!(
            status(&member, method, &path, &token).await,
            403,
            "member: {method} {path}"
        );
    }
    assert_eq!(
        manager
            .get(&format!("/orgs/{}/history", org.id))
            .await
            .status(),
        403
    );
    let history = owner.page(&format!("/orgs/{}/history", org.id)).await;
    assert_eq!(history.status, 200);
    let actions = history.attr_all("table.history tbody tr", "data-event");
    assert!(
        actions.contains(&"organisation.created".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"invitation.accepted".to_string()),
        "{actions:?}"
    );
    // Nobody without a session gets anything but the sign-in page.
    let anonymous = app.new_browser();
    for (method, route) in ROUTES {
        let path = route.replace("{org}", &org.id);
        if *method == "GET" {
            assert_eq!(anonymous.get(&path).await.status(), 303, "{path}");
        }
    }
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn the_permission_names_in_code_match_the_database() {
    let app = TestApp::spawn().await;
    let mut in_code: Vec<String> = Permission::ALL
        .iter()
        .map(|p| p.as_str().to_string())
        .collect();
    in_code.sort();
    assert_eq!(app.context.store.permission_names().await.unwrap(), in_code);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn every_change_leaves_an_audit_event_with_actor_and_address() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Lab", "lab").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    let path = format!("/orgs/{}/invitations", org.id);
    owner
        .submit(
            &path,
            &path,
            &[("surname", "Curie"), ("email", "marie@example.org")],
        )
        .await;
    let token = owner.page(&path).await.csrf_token();
    owner
        .post_form(
            &format!("/orgs/{}/members", org.id),
            &[("csrf_token", &token), ("uid", "jsmith")],
        )
        .await;
    let history = owner.page(&format!("/orgs/{}/history", org.id)).await;
    let rows = history.select_all("table.history tbody tr");
    assert!(rows.len() >= 4, "{rows:?}");
    let actions = history.attr_all("table.history tbody tr", "data-event");
    assert_eq!(
        &actions[..2],
        &["member.added".to_string(), "invitation.created".to_string()]
    );
    assert_eq!(
        &history.select_all("td.event .actor")[..2],
        &["Tester".to_string(), "Tester".to_string()]
    );
    assert_eq!(
        &history.select_all("td.ip")[..2],
        &["127.0.0.1".to_string(), "127.0.0.1".to_string()]
    );
    app.assert_directory_settled().await;
}
