//! The member list: paging, search, role and end-date changes, removal, stale edits, and
//! memberUid in LDAP following the list.

use roster::domain::Role;

use crate::support::app::{TestApp, into_page, location};

async fn add_from_directory(
    app: &TestApp,
    browser: &crate::support::app::Browser,
    org_id: &str,
    uid: &str,
) {
    let token = browser
        .page(&format!("/orgs/{org_id}/directory"))
        .await
        .csrf_token();
    let response = browser
        .post_form(
            &format!("/orgs/{org_id}/members"),
            &[("csrf_token", &token), ("uid", uid)],
        )
        .await;
    assert_eq!(response.status(), 303, "adding {uid}");
    let _ = app;
}

/// The change page of the one member the list shows for `q`, as a person gets there: by
/// the row's "Change" link.
pub async fn member_page(
    browser: &crate::support::app::Browser,
    org_id: &str,
    q: &str,
) -> crate::support::app::Page {
    let list = browser.page(&format!("/orgs/{org_id}/members?q={q}")).await;
    let link = list
        .attr("td.actions a", "href")
        .expect("the row has a Change link");
    browser.page(&link).await
}

#[tokio::test]
async fn member_uid_in_ldap_follows_adds_and_removals() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    for uid in ["jsmith", "esmith", "amueller"] {
        add_from_directory(&app, &owner, &org.id, uid).await;
    }
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["amueller".into(), "esmith".into(), "jsmith".into()])
    );

    let list = owner
        .page(&format!("/orgs/{}/members?q=smith", org.id))
        .await;
    assert_eq!(list.select_all("td.username"), vec!["esmith", "jsmith"]);
    let page = member_page(&owner, &org.id, "jsmith").await;
    assert_eq!(page.text("dd.username"), "jsmith");
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
    assert_eq!(
        location(&response),
        format!("/orgs/{}/members?done=removed", org.id)
    );

    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["amueller".into(), "esmith".into()])
    );
    let list = owner
        .page(&format!("/orgs/{}/members?done=removed", org.id))
        .await;
    assert_eq!(
        list.text(".notice"),
        "John Smith was removed from Astro. Their account is kept."
    );
    assert!(
        !list
            .select_all("td.username")
            .contains(&"jsmith".to_string())
    );
    // The account itself is kept.
    let pool = app.database.pool().await;
    let (kept,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM people WHERE username = 'jsmith'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn role_and_end_date_changes_are_saved_and_a_stale_form_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let manager = app
        .browser_for(&org, "manager@example.org", Role::Manager)
        .await;
    add_from_directory(&app, &owner, &org.id, "jsmith").await;
    let list_path = format!("/orgs/{}/members?q=jsmith", org.id);

    // Owner and manager open jsmith's page; the owner sets an end date, then the manager's
    // role change, made on the old version, is refused and changes nothing.
    let owner_page = member_page(&owner, &org.id, "jsmith").await;
    let manager_page = member_page(&manager, &org.id, "jsmith").await;
    let end_action = owner_page
        .attr("form[action$='/end-date']", "action")
        .unwrap();
    let role_action = owner_page.attr("form[action$='/role']", "action").unwrap();
    let version = owner_page
        .attr("form[action$='/end-date'] input[name=version]", "value")
        .unwrap();
    let changed = owner
        .post_form(
            &end_action,
            &[
                ("csrf_token", &owner_page.csrf_token()),
                ("version", &version),
                ("ends_on", "2099-01-31"),
            ],
        )
        .await;
    assert_eq!(changed.status(), 303);
    assert_eq!(
        owner.page(&location(&changed)).await.text(".notice"),
        "John Smith’s membership of Astro now ends on 2099-01-31."
    );
    let stale = into_page(
        manager
            .post_form(
                &role_action,
                &[
                    ("csrf_token", &manager_page.csrf_token()),
                    ("version", &version),
                    ("role", "member"),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(stale.status, 409);
    assert!(
        stale
            .text(".error-message")
            .starts_with("This changed since you opened the page")
    );
    let now = member_page(&owner, &org.id, "jsmith").await;
    assert_eq!(now.text("dd.ends"), "2099-01-31", "the first edit stands");
    assert_eq!(owner.page(&list_path).await.text("td.ends"), "2099-01-31");

    // The owner makes them a manager; a manager cannot change a manager.
    let version = now
        .attr("form[action$='/role'] input[name=version]", "value")
        .unwrap();
    let promoted = owner
        .post_form(
            &role_action,
            &[
                ("csrf_token", &now.csrf_token()),
                ("version", &version),
                ("role", "manager"),
            ],
        )
        .await;
    assert_eq!(promoted.status(), 303);
    assert_eq!(
        owner.page(&location(&promoted)).await.text(".notice"),
        "John Smith’s role in Astro is now Manager."
    );
    let fresh = manager.page(&list_path).await;
    assert_eq!(fresh.text("td.role"), "Manager");
    assert!(
        fresh.select_all("td.actions a").is_empty(),
        "no Change link for a manager"
    );
    let member_path = role_action.trim_end_matches("/role").to_string();
    assert_eq!(manager.get(&member_path).await.status(), 403);
    let version = member_page(&owner, &org.id, "jsmith")
        .await
        .attr("form[action$='/end-date'] input[name=version]", "value")
        .unwrap();
    let refused = manager
        .post_form(
            &end_action,
            &[
                ("csrf_token", &fresh.csrf_token()),
                ("version", &version),
                ("ends_on", ""),
            ],
        )
        .await;
    assert_eq!(refused.status(), 403);

    // The owner sets an end date, then clears it; a malformed date is a 400.
    for (value, expected) in [("2099-02-28", "2099-02-28"), ("", "—")] {
        let page = member_page(&owner, &org.id, "jsmith").await;
        let version = page
            .attr("form[action$='/end-date'] input[name=version]", "value")
            .unwrap();
        let response = owner
            .post_form(
                &end_action,
                &[
                    ("csrf_token", &page.csrf_token()),
                    ("version", &version),
                    ("ends_on", value),
                ],
            )
            .await;
        assert_eq!(response.status(), 303);
        assert_eq!(owner.page(&list_path).await.text("td.ends"), expected);
    }
    let page = member_page(&owner, &org.id, "jsmith").await;
    let version = page
        .attr("form[action$='/end-date'] input[name=version]", "value")
        .unwrap();
    let bad = owner
        .post_form(
            &end_action,
            &[
                ("csrf_token", &page.csrf_token()),
                ("version", &version),
                ("ends_on", "31/01/2099"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 400);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn the_member_list_pages_and_searches() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    // 60 members straight into the database (the page size is 50).
    let pool = app.database.pool().await;
    for n in 0..60 {
        let person = format!("p{n:03}");
        sqlx::query(
            "INSERT INTO people (id, email, email_normalized, surname, status, created_at, updated_at) \
             VALUES ($1, $2, $2, $3, 'active', 0, 0)",
        )
        .bind(&person)
        .bind(format!("{person}@example.org"))
        .bind(format!("Zeta{n:03}"))
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO memberships (id, organisation_id, person_id, role, version, created_at, updated_at, sort_key, search_text) \
             VALUES ($1, $2, $1, 'member', 1, 0, 0, $3, $4)",
        )
        .bind(&person)
        .bind(&org.id)
        .bind(format!("zeta{n:03}  {person}"))
        .bind(format!("zeta{n:03}  {person}@example.org "))
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE organisations SET member_count = member_count + 60, members_version = members_version + 1 WHERE id = $1")
        .bind(&org.id)
        .execute(&pool)
        .await
        .unwrap();
    let first = owner.page(&format!("/orgs/{}/members", org.id)).await;
    assert_eq!(first.text(".count"), "61 members.");
    assert_eq!(first.select_all("table.members tbody tr").len(), 50);
    assert_eq!(first.text(".pager span"), "Page 1 of 2");
    let second = owner
        .page(&format!("/orgs/{}/members?page=2", org.id))
        .await;
    assert_eq!(second.select_all("table.members tbody tr").len(), 11);
    let beyond = owner
        .page(&format!("/orgs/{}/members?page=99", org.id))
        .await;
    assert_eq!(beyond.text(".pager span"), "Page 2 of 2");

    let found = owner
        .page(&format!("/orgs/{}/members?q=ZETA05", org.id))
        .await;
    assert_eq!(found.text(".count"), "10 members matching “ZETA05”.");
    // LIKE wildcards are literal.
    let literal = owner.page(&format!("/orgs/{}/members?q=%25", org.id)).await;
    assert_eq!(literal.text(".count"), "0 members matching “%”.");
    let hostile = owner
        .page(&format!("/orgs/{}/members?q={}", org.id, "x".repeat(500)))
        .await;
    assert_eq!(hostile.status, 400);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_change_on_one_instance_shows_at_once_on_another() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    add_from_directory(&app, &owner, &org.id, "jsmith").await;
    let (second, _) = crate::support::app::start_instance(app.settings.clone()).await;
    let other = crate::support::app::Browser::new(&second);
    let list = format!("/orgs/{}/members?q=jsmith", org.id);
    // The second instance reads (and keeps) the page...
    let cookies = owner.cookies();
    let before = into_page(other.get_with_cookies(&list, &cookies).await).await;
    assert_eq!(before.text("td.role"), "Member");
    // ...the first changes the role...
    let page = member_page(&owner, &org.id, "jsmith").await;
    let action = page.attr("form[action$='/role']", "action").unwrap();
    let version = page
        .attr("form[action$='/role'] input[name=version]", "value")
        .unwrap();
    let response = owner
        .post_form(
            &action,
            &[
                ("csrf_token", &page.csrf_token()),
                ("version", &version),
                ("role", "manager"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    // ...and the second shows the new role straight away.
    let after = into_page(other.get_with_cookies(&list, &cookies).await).await;
    assert_eq!(after.text("td.role"), "Manager");
    app.assert_directory_settled().await;
}
