//! Every destructive action asks first: a GET of its address says exactly what will
//! happen, changes nothing, cancels back to the list, and its form does it; foreign ids
//! are 404 and people without the right get what the action itself answers.

use roster::domain::Role;

use crate::keys::{add_key, ed25519_key, ldap_keys};
use crate::support::app::{Browser, Page, TestApp, location};

/// Gives the signed-in person a full name, as they would on their profile.
async fn name_as(browser: &Browser, given_name: &str, surname: &str) {
    let response = browser
        .submit(
            "/account",
            "/account/name",
            &[("given_name", given_name), ("surname", surname)],
        )
        .await;
    assert_eq!(response.status(), 303);
}

/// The confirmation page at `path`, checked for the parts every one of them has.
async fn confirmation(browser: &Browser, path: &str, cancel: &str) -> Page {
    let page = browser.page(path).await;
    assert_eq!(page.status, 200, "{path}");
    assert_eq!(
        page.attr("form.confirm-actions", "action").as_deref(),
        Some(path),
        "the form posts to the page's own address"
    );
    assert_eq!(
        page.attr("form.confirm-actions a.cancel", "href")
            .as_deref(),
        Some(cancel)
    );
    assert_eq!(page.text("form.confirm-actions a.cancel"), "Cancel");
    page
}

/// Submits the confirmation page's form, with its hidden fields.
async fn confirm(browser: &Browser, page: &Page) -> reqwest::Response {
    let action = page.attr("form.confirm-actions", "action").unwrap();
    let selector = scraper::Selector::parse("form.confirm-actions input[type=hidden]").unwrap();
    let fields: Vec<(String, String)> = page
        .html
        .select(&selector)
        .map(|input| {
            (
                input.value().attr("name").unwrap().to_string(),
                input.value().attr("value").unwrap_or_default().to_string(),
            )
        })
        .collect();
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    browser.post_form(&action, &fields).await
}

#[tokio::test]
async fn removing_your_key_asks_first_and_names_the_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let ada = app.activated_member(&org, "ada").await;
    let key = ed25519_key(1);
    assert_eq!(add_key(&ada, &key).await.status(), 303);
    let list = ada.page("/account/keys").await;
    let fingerprint = list.text("td.fingerprint");
    // A short link, whose accessible name says which key.
    let link = list.attr("table.keys a.button-link", "href").unwrap();
    assert_eq!(
        list.text("table.keys a.button-link"),
        format!("Remove key {fingerprint}")
    );
    assert_eq!(
        list.text("table.keys a.button-link .visually-hidden"),
        format!("key {fingerprint}")
    );
    assert!(
        list.select_all("table.keys form").is_empty(),
        "no one-click removal"
    );

    let page = confirmation(&ada, &link, "/account/keys").await;
    assert_eq!(
        page.text("h1"),
        format!("Remove the SSH key {fingerprint} (key1@test) from your account?")
    );
    assert_eq!(
        page.text("p.consequence"),
        "You will no longer be able to log in with it. It is removed from the directory."
    );
    assert_eq!(page.text("button.danger"), "Yes, remove the key");
    assert_eq!(
        ldap_keys(&app, "ada").await,
        vec![key.clone()],
        "asking changes nothing"
    );

    // Someone else's key is not found, to look at or to remove.
    let grace = app.activated_member(&org, "grace").await;
    assert_eq!(grace.page(&link).await.status, 404);
    assert_eq!(
        grace.submit("/account/keys", &link, &[]).await.status(),
        404
    );
    assert_eq!(ada.page("/account/keys/not-a-key/remove").await.status, 404);

    let response = confirm(&ada, &page).await;
    assert_eq!(location(&response), "/account/keys?done=removed");
    assert_eq!(
        ada.page(&location(&response)).await.text(".notice"),
        format!("The key {fingerprint} (key1@test) was removed. You can no longer log in with it.")
    );
    assert!(ldap_keys(&app, "ada").await.is_empty());
    assert_eq!(ada.page(&link).await.status, 404, "gone once removed");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn removing_a_member_names_them_the_organisation_and_the_access_they_lose() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let grace = app.activated_member(&org, "grace").await;
    name_as(&grace, "Grace", "Lovelace").await;
    for resource in ["gpu", "hpc", "store"] {
        app.create_resource(&org, resource, "cluster").await;
    }
    let member_page = crate::members::member_page(&owner, &org.id, "grace").await;
    let link = member_page.attr("a.button-link.danger", "href").unwrap();
    assert_eq!(
        member_page.text("a.button-link.danger .visually-hidden"),
        "Grace Lovelace from Astrophysics Lab"
    );
    let membership_path = link.trim_end_matches("/remove").to_string();

    let page = confirmation(&owner, &link, &membership_path).await;
    assert_eq!(
        page.text("h1"),
        "Remove Grace Lovelace from Astrophysics Lab?"
    );
    assert_eq!(
        page.select_all("p.consequence")[0],
        "Remove Grace Lovelace from Astrophysics Lab. Grace Lovelace’s access to 3 resources ends now."
    );
    assert_eq!(page.text("button.danger"), "Yes, remove them");
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["grace".to_string()]),
        "asking changes nothing"
    );

    // A plain member may not, nor may the owner of another organisation; an unknown
    // membership is 404.
    let member = app.activated_member(&org, "mia").await;
    assert_eq!(member.page(&link).await.status, 403);
    let bio = app.create_org("Bio", "bio").await;
    let other_owner = app.activated_with_role(&bio, "olga", Role::Owner).await;
    assert_eq!(other_owner.page(&link).await.status, 403);
    assert_eq!(
        owner
            .page(&format!("/orgs/{}/members/not-a-membership/remove", org.id))
            .await
            .status,
        404
    );
    // The same membership through another organisation's address is not found.
    assert_eq!(
        other_owner
            .page(&link.replace(&org.id, &bio.id))
            .await
            .status,
        404
    );

    let response = confirm(&owner, &page).await;
    assert_eq!(
        location(&response),
        format!("/orgs/{}/members?done=removed", org.id)
    );
    assert_eq!(
        owner.page(&location(&response)).await.text(".notice"),
        "Grace Lovelace was removed from Astrophysics Lab. Their account is kept."
    );
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["mia".to_string()])
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_manager_may_not_open_the_removal_of_an_owner() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let manager = app.activated_with_role(&org, "manny", Role::Manager).await;
    app.activated_with_role(&org, "olive", Role::Owner).await;
    let membership = app
        .context
        .store
        .members_page(&org.id, Some("olive"), 1, 50, None)
        .await
        .unwrap()
        .members[0]
        .membership_id
        .clone();
    let path = format!("/orgs/{}/members/{membership}/remove", org.id);
    assert_eq!(manager.page(&path).await.status, 403);
}

#[tokio::test]
async fn withdrawing_an_invitation_asks_first_naming_who_and_where() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let invitations = format!("/orgs/{}/invitations", org.id);
    let link = crate::support::app::into_page(
        owner
            .submit(
                &invitations,
                &invitations,
                &[
                    ("surname", "Lovelace"),
                    ("given_name", "Grace"),
                    ("email", "grace@example.org"),
                    ("role", "member"),
                ],
            )
            .await,
    )
    .await
    .attr("#invitation-link", "value")
    .unwrap();
    let list = owner.page(&invitations).await;
    let withdraw = list
        .attr("table.invitations a.button-link.danger", "href")
        .unwrap();
    assert_eq!(
        list.text("table.invitations a.button-link.danger"),
        "Withdraw the invitation to grace@example.org"
    );

    let page = confirmation(&owner, &withdraw, &invitations).await;
    assert_eq!(
        page.text("h1"),
        "Withdraw the invitation to grace@example.org to join Astrophysics Lab as member?"
    );
    assert_eq!(
        page.text("p.consequence"),
        "The link in their email will stop working. You can invite them again later."
    );
    assert_eq!(page.text("button.danger"), "Yes, withdraw it");
    assert_eq!(
        app.new_browser().page(&link).await.status,
        200,
        "asking changes nothing"
    );

    let bio = app.create_org("Bio", "bio").await;
    let other_owner = app.activated_with_role(&bio, "olga", Role::Owner).await;
    assert_eq!(other_owner.page(&withdraw).await.status, 403);
    assert_eq!(
        other_owner
            .page(&withdraw.replace(&org.id, &bio.id))
            .await
            .status,
        404
    );
    let member = app.activated_member(&org, "mia").await;
    assert_eq!(member.page(&withdraw).await.status, 403);

    let response = confirm(&owner, &page).await;
    assert_eq!(
        location(&response),
        format!("/orgs/{}/invitations?done=revoked", org.id)
    );
    assert_eq!(
        owner.page(&location(&response)).await.text(".notice"),
        "The invitation to grace@example.org was withdrawn; its link no longer works."
    );
    assert_eq!(app.new_browser().page(&link).await.status, 410);
    // Withdrawn, it cannot be asked about again: the same 409 as withdrawing again.
    assert_eq!(owner.page(&withdraw).await.status, 409);
}

#[tokio::test]
async fn revoking_a_staff_role_asks_first_naming_the_person_and_role() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let admin = &app.browser;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let ada = app.activated_member(&org, "ada").await;
    name_as(&ada, "Ada", "Byron").await;
    let response = admin
        .submit(
            "/admin/staff",
            "/admin/staff",
            &[("email", "ada@example.org"), ("role", "helpdesk")],
        )
        .await;
    assert_eq!(
        admin.page(&location(&response)).await.text(".notice"),
        "Ada Byron now has the helpdesk role."
    );
    let ada_id = app.person_id("ada@example.org").await;
    let list = admin.page("/admin/staff").await;
    let revoke = format!("/admin/staff/{ada_id}/helpdesk/revoke");
    assert!(
        list.select_all("table.staff a.button-link")
            .contains(&"Revoke Helpdesk from Ada Byron".to_string())
    );

    let page = confirmation(admin, &revoke, "/admin/staff").await;
    assert_eq!(page.text("h1"), "Revoke the helpdesk role from Ada Byron?");
    assert_eq!(
        page.text("p.consequence"),
        "Ada Byron will no longer be able to find and fix accounts on the staff pages. Their account and memberships are kept."
    );
    assert_eq!(page.text("button.danger"), "Yes, revoke the role");
    assert_eq!(
        ada.get("/admin/accounts").await.status(),
        200,
        "asking changes nothing"
    );

    // Helpdesk may not; a role the person does not hold is not found.
    assert_eq!(ada.page(&revoke).await.status, 403);
    assert_eq!(
        admin
            .page(&format!("/admin/staff/{ada_id}/admin/revoke"))
            .await
            .status,
        404
    );

    let response = confirm(admin, &page).await;
    assert_eq!(location(&response), "/admin/staff?done=revoked");
    assert_eq!(
        admin
            .page("/admin/staff?done=revoked")
            .await
            .text(".notice"),
        "Ada Byron no longer has the helpdesk role."
    );
    // Shown once: a reload says it in general terms.
    assert_eq!(
        admin
            .page("/admin/staff?done=revoked")
            .await
            .text(".notice"),
        "The role was revoked."
    );
    assert_eq!(ada.get("/admin/accounts").await.status(), 403);
    assert_eq!(admin.page(&revoke).await.status, 404);
}

#[tokio::test]
async fn staff_removing_a_key_are_asked_first_naming_the_account() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let ada = app.activated_member(&org, "ada").await;
    name_as(&ada, "Ada", "Byron").await;
    assert_eq!(add_key(&ada, &ed25519_key(3)).await.status(), 303);
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let ada_id = app.person_id("ada@example.org").await;
    let account = format!("/admin/accounts/{ada_id}");
    let link = helpdesk
        .page(&account)
        .await
        .attr("table.keys a.button-link.danger", "href")
        .unwrap();
    let fingerprint = helpdesk.page(&account).await.text("td.fingerprint");

    let page = confirmation(&helpdesk, &link, &account).await;
    assert_eq!(
        page.text("h1"),
        format!("Remove the SSH key {fingerprint} (key3@test) from Ada Byron’s account?")
    );
    assert_eq!(
        page.text("p.consequence"),
        "Ada Byron will no longer be able to log in with it. It is removed from the directory, and Ada Byron is told by email."
    );
    assert_eq!(
        ldap_keys(&app, "ada").await.len(),
        1,
        "asking changes nothing"
    );
    // Not staff: not allowed, as for the removal itself.
    assert_eq!(ada.page(&link).await.status, 403);
    assert_eq!(
        helpdesk
            .page(&format!("{account}/keys/not-a-key/remove"))
            .await
            .status,
        404
    );

    let response = confirm(&helpdesk, &page).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        helpdesk.page(&location(&response)).await.text(".notice"),
        format!(
            "The key {fingerprint} (key3@test) was removed from Ada Byron’s account and from LDAP."
        )
    );
    assert!(ldap_keys(&app, "ada").await.is_empty());
    app.assert_directory_settled().await;
}
