//! Organisations: creation with a gidNumber, the posixGroup in LDAP, the description.

use roster::domain::Role;

use crate::support::app::{TestApp, into_page, location};

#[tokio::test]
async fn an_admin_creates_an_organisation_whose_group_appears_in_ldap() {
    // The sample directory holds gidNumbers 30000-30004; the range starts inside them.
    let app = TestApp::spawn_with(|settings| settings.ldap.gid_number_min = 30_002).await;
    app.signed_in_admin("ada@example.org").await;
    let response = app
        .browser
        .submit(
            "/orgs",
            "/orgs",
            &[
                ("name", "Astrophysics Lab"),
                ("short_name", "astro"),
                ("description", "Stars."),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let org_path = location(&response);
    assert!(org_path.ends_with("?done=created"), "{org_path}");
    let page = app.browser.page(&org_path).await;
    assert_eq!(page.text(".notice"), "The organisation was created.");
    let facts = page.select_all(".facts dd");
    assert_eq!(facts[0], "astro");
    assert_eq!(
        facts[1], "30005",
        "30002-30004 are taken in LDAP and skipped"
    );

    let group = app
        .slapd
        .search_entry(&format!("cn=astro,{}", app.slapd.groups_dn()))
        .await
        .unwrap();
    assert_eq!(group.attrs["gidNumber"], vec!["30005"]);
    assert!(group.attrs["objectClass"].iter().any(|c| c == "posixGroup"));
    assert!(!group.attrs.contains_key("memberUid"));

    // The next organisation gets the next number; skipped ones are never handed out.
    let second = app.create_org("Chemistry Two", "chem2").await;
    assert_eq!(second.gid_number, 30_006);
    assert_eq!(app.ldap_member_uids("chem2").await, Some(vec![]));
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn bad_or_taken_short_names_are_refused_next_to_the_field() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    app.create_org("Astro", "astro").await;
    let cases = [
        (
            "Astro",
            "422",
            "Use lowercase letters, digits, - and _, starting with a letter (it becomes the POSIX group name).",
        ),
        (
            "2lab",
            "422",
            "Use lowercase letters, digits, - and _, starting with a letter (it becomes the POSIX group name).",
        ),
        (
            "a*)(cn=*",
            "422",
            "Use lowercase letters, digits, - and _, starting with a letter (it becomes the POSIX group name).",
        ),
        (
            "abcdefghijklmnopqrstuvwxyz0123456",
            "422",
            "Use at most 32 characters.",
        ),
        (
            "astro",
            "409",
            "This name is already taken, by another organisation or by a group or person in the directory. Choose another.",
        ),
        // A group LDAP already has (from the sample directory).
        (
            "chemistry",
            "409",
            "This name is already taken, by another organisation or by a group or person in the directory. Choose another.",
        ),
        // System groups: members would gain their powers on every machine.
        (
            "wheel",
            "422",
            "This name belongs to a system group (such as wheel, sudo or docker) or a system account. Choose another.",
        ),
        (
            "sudo",
            "422",
            "This name belongs to a system group (such as wheel, sudo or docker) or a system account. Choose another.",
        ),
        (
            "systemd-journal",
            "422",
            "This name belongs to a system group (such as wheel, sudo or docker) or a system account. Choose another.",
        ),
    ];
    for (short_name, status, message) in cases {
        let response = app
            .browser
            .submit(
                "/orgs",
                "/orgs",
                &[("name", "Some Lab"), ("short_name", short_name)],
            )
            .await;
        let page = into_page(response).await;
        assert_eq!(page.status.as_str(), status, "{short_name}");
        assert_eq!(page.text("#short_name-error"), format!("Error: {message}"));
        // What was typed is kept.
        assert_eq!(
            page.attr("input[name=name]", "value").as_deref(),
            Some("Some Lab")
        );
    }
    assert_eq!(
        app.context.store.all_organisations().await.unwrap().len(),
        1
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_stale_description_edit_is_refused_and_nothing_is_lost() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let first = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    let second = app
        .browser_for(&org, "manager@example.org", Role::Manager)
        .await;
    let path = format!("/orgs/{}", org.id);
    // Both open the page, with version 1.
    let first_page = first.page(&path).await;
    let second_page = second.page(&path).await;
    let version = first_page.attr("input[name=version]", "value").unwrap();
    let action = format!("/orgs/{}/description", org.id);
    let saved = first
        .post_form(
            &action,
            &[
                ("csrf_token", &first_page.csrf_token()),
                ("version", &version),
                ("description", "First"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let refused = into_page(
        second
            .post_form(
                &action,
                &[
                    ("csrf_token", &second_page.csrf_token()),
                    ("version", &version),
                    ("description", "Second"),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(refused.status, 409);
    assert!(
        refused
            .text(".error-message")
            .starts_with("This changed since you opened the page")
    );
    let current = app
        .context
        .store
        .organisation(&org.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.description, "First");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn an_admin_appoints_a_pi_by_inviting_them_as_owner() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let org = app.create_org("Astro", "astro").await;
    let path = format!("/orgs/{}/invitations", org.id);
    let page = app.browser.page(&path).await;
    assert_eq!(
        page.select_all("select#role option"),
        vec!["Member", "Manager", "Owner"]
    );
    let response = into_page(
        app.browser
            .submit(
                &path,
                &path,
                &[
                    ("surname", "Curie"),
                    ("email", "pi@example.org"),
                    ("role", "owner"),
                ],
            )
            .await,
    )
    .await;
    let link = response.attr("#invitation-link", "value").unwrap();
    let pi = app.new_browser();
    assert_eq!(
        pi.accept_invitation(&link, crate::support::app::GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    let members = pi.page(&format!("/orgs/{}/members", org.id)).await;
    assert_eq!(members.text("td.role"), "Owner");
    assert_eq!(
        pi.get(&format!("/orgs/{}/history", org.id)).await.status(),
        200
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn directory_changes_wait_while_ldap_is_down_and_are_applied_when_it_returns() {
    let mut app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let token = owner
        .page(&format!("/orgs/{}/directory", org.id))
        .await
        .csrf_token();
    for uid in ["jsmith", "esmith"] {
        let added = owner
            .post_form(
                &format!("/orgs/{}/members", org.id),
                &[("csrf_token", &token), ("uid", uid)],
            )
            .await;
        assert_eq!(added.status(), 303);
    }
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["esmith".into(), "jsmith".into()])
    );

    app.slapd.stop();
    // Creating an organisation needs LDAP to pick a free gidNumber: a clear 503, nothing made.
    let refused = into_page(
        app.browser
            .submit("/orgs", "/orgs", &[("name", "Bio"), ("short_name", "bio")])
            .await,
    )
    .await;
    assert_eq!(refused.status, 503);
    assert!(
        refused
            .text(".error-message")
            .starts_with("The directory could not be asked")
    );
    assert_eq!(
        app.context.store.all_organisations().await.unwrap().len(),
        1
    );

    // Removing a member is stored at once and shown as pending.
    let list = owner
        .page(&format!("/orgs/{}/members?q=jsmith", org.id))
        .await;
    let page = owner
        .page(&list.attr("td.actions a", "href").unwrap())
        .await;
    let remove = page.attr("a[href$='/remove']", "href").unwrap();
    let confirmation = owner.page(&remove).await;
    let version = confirmation
        .attr("form.confirm-actions input[name=version]", "value")
        .unwrap();
    let response = owner
        .post_form(
            &remove,
            &[
                ("csrf_token", &confirmation.csrf_token()),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let after = owner.page(&format!("/orgs/{}/members", org.id)).await;
    assert_eq!(
        after.text(".pending"),
        "Directory changes are pending — they will be applied automatically."
    );
    assert_eq!(
        after.select_all("td.username"),
        vec!["esmith", "none yet"],
        "jsmith is gone; the PI has no username yet"
    );

    app.slapd.start_again();
    // The worker retries after its backoff: move past it instead of waiting.
    app.run_jobs_later().await;
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["esmith".to_string()])
    );
    let settled = owner.page(&format!("/orgs/{}/members", org.id)).await;
    assert!(settled.select_all(".pending").is_empty());
    app.assert_directory_settled().await;
}
