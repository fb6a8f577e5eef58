//! The Resources pages without JavaScript: adding a device, who may use it and why,
//! restricting it, its access list and assignment as forms, stale forms, hostile input,
//! filters, and the resources a member sees on their account page and staff on theirs.

use roster::domain::Role;

use crate::support::app::{TestApp, into_page, location};

#[tokio::test]
async fn a_manager_adds_a_device_and_decides_who_may_use_it_with_forms() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let manager = app
        .browser_for(&astro, "boss@example.org", Role::Manager)
        .await;
    let mia = app.activated_member(&astro, "mia").await;
    app.activated_member(&astro, "tom").await;
    let list = format!("/orgs/{}/resources", astro.id);

    // Hostile and wrong input, each beside its field.
    for (fields, field, words) in [
        (
            vec![
                ("name", "Big iron"),
                ("short_name", "hpc"),
                ("kind", "cluster"),
            ],
            "kind",
            "Choose one of device, service",
        ),
        (
            vec![("name", "Root"), ("short_name", "root"), ("kind", "device")],
            "short_name",
            "system group",
        ),
        (
            vec![
                ("name", "X"),
                ("short_name", "cn=x,dc=evil"),
                ("kind", "device"),
            ],
            "short_name",
            "lowercase letters",
        ),
    ] {
        let page = into_page(manager.submit(&list, &list, &fields).await).await;
        assert_eq!(page.status, 422, "{fields:?}");
        let error = page.text(&format!("#{field}-error"));
        assert!(error.contains(words), "{fields:?}: {error}");
    }

    let created = manager
        .submit(
            &list,
            &list,
            &[
                ("name", "Microscope"),
                ("short_name", "scope"),
                ("kind", "device"),
                ("site", "Lab 2"),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let resource_page = location(&created);
    let resource_path = resource_page.split('?').next().unwrap().to_string();
    let page = manager.page(&resource_page).await;
    assert_eq!(page.text(".group code"), "astro-scope");
    let reasons = |page: &crate::support::app::Page| -> Vec<(String, String)> {
        page.select_all("table.resource-access td.username")
            .into_iter()
            .zip(page.select_all("table.resource-access td.reason"))
            .collect()
    };
    assert!(
        reasons(&page).contains(&("mia".into(), "role".into())),
        "{:?}",
        reasons(&page)
    );
    // The same short name again.
    let again = into_page(
        manager
            .submit(
                &list,
                &list,
                &[
                    ("name", "Again"),
                    ("short_name", "scope"),
                    ("kind", "device"),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(again.status, 422);
    assert!(again.text("#short_name-error").contains("astro-scope"));

    // Restrict it, list tom, assign mia.
    let version = page.attr("input[name=version]", "value").unwrap();
    let change = |what: &str| format!("{resource_path}/{what}");
    let restricted = manager
        .submit(
            &resource_path,
            &change("access"),
            &[("version", &version), ("restricted", "restricted")],
        )
        .await;
    assert_eq!(restricted.status(), 303);
    // The form read before that change is stale now.
    let stale = manager
        .submit(
            &resource_path,
            &change("list"),
            &[("version", &version), ("usernames", "tom")],
        )
        .await;
    assert_eq!(stale.status(), 409);
    let page = manager.page(&resource_path).await;
    assert!(reasons(&page).is_empty(), "restricted with nobody listed");
    let version = page.attr("input[name=version]", "value").unwrap();
    let refused = manager
        .submit(
            &resource_path,
            &change("list"),
            &[("version", &version), ("usernames", "tom\nstranger")],
        )
        .await;
    assert_eq!(refused.status(), 400, "stranger is no member");
    let listed = manager
        .submit(
            &resource_path,
            &change("list"),
            &[("version", &version), ("usernames", "tom")],
        )
        .await;
    assert_eq!(listed.status(), 303);
    let page = manager.page(&resource_path).await;
    let version = page.attr("input[name=version]", "value").unwrap();
    manager
        .submit(
            &resource_path,
            &change("assign"),
            &[("version", &version), ("username", "mia")],
        )
        .await;
    let page = manager.page(&resource_path).await;
    assert_eq!(
        reasons(&page),
        vec![
            ("mia".into(), "assigned".into()),
            ("tom".into(), "listed".into())
        ]
    );
    // LDAP agrees.
    app.run_jobs().await;
    let entry = app
        .slapd
        .search_entry("cn=astro-scope,ou=resources,dc=example,dc=org")
        .await
        .unwrap();
    let mut uids = entry.attrs["memberUid"].clone();
    uids.sort();
    assert_eq!(uids, ["mia", "tom"]);
    // The details form.
    let version = page.attr("input[name=version]", "value").unwrap();
    let renamed = manager
        .submit(
            &resource_path,
            &change("details"),
            &[
                ("version", &version),
                ("name", "Confocal"),
                ("site", "Lab 3"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(renamed.status(), 303);
    let page = manager.page(&resource_path).await;
    assert_eq!(
        page.attr("#details-name", "value").as_deref(),
        Some("Confocal")
    );
    // Only site admins retire: no link, and the confirmation page refuses a manager.
    assert!(page.select_all("a.button-link.danger").is_empty());
    let refused = manager.get(&format!("{resource_path}/retire")).await;
    assert_eq!(refused.status(), 403);

    // The member sees it on their account page.
    let account = mia.page("/account").await;
    assert!(
        account.text("ul.usable-resources").contains("astro-scope"),
        "{}",
        account.text("ul.usable-resources")
    );

    // Filters.
    let filtered = manager
        .page(&format!("{list}?kind=device&site=Lab+3"))
        .await;
    assert_eq!(
        filtered.select_all("table.resources td.group"),
        ["astro-scope"]
    );
    let none = manager.page(&format!("{list}?kind=cluster")).await;
    assert!(none.select_all("table.resources").is_empty());
}

#[tokio::test]
async fn another_organisations_resource_is_not_found_and_staff_see_a_persons_resources() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let bio = app.create_org("Bio", "bio").await;
    let manager = app
        .browser_for(&astro, "boss@example.org", Role::Manager)
        .await;
    app.activated_member(&bio, "olga").await;
    let bio_owner = app.browser_for(&bio, "lead@example.org", Role::Owner).await;
    let path = format!("/orgs/{}/resources", bio.id);
    let created = bio_owner
        .submit(
            &path,
            &path,
            &[
                ("name", "Sequencer"),
                ("short_name", "seq"),
                ("kind", "device"),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let bio_resource = location(&created);
    let id = bio_resource
        .split('/')
        .nth(4)
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    // Astro's manager, through astro's path: not found; through bio's: forbidden.
    let foreign = manager
        .get(&format!("/orgs/{}/resources/{id}", astro.id))
        .await;
    assert_eq!(foreign.status(), 404);
    let other = manager
        .get(&format!("/orgs/{}/resources/{id}", bio.id))
        .await;
    assert_eq!(other.status(), 403);

    let staff = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let olga = app.person_id("olga@example.org").await;
    let page = staff.page(&format!("/admin/accounts/{olga}")).await;
    assert!(page.text("ul.usable-resources").contains("bio-seq"));
}

#[tokio::test]
async fn a_site_admin_moves_retires_and_deletes_a_resources_group_with_forms() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let astro = app.create_org("Astro", "astro").await;
    let bio = app.create_org("Bio", "bio").await;
    app.activated_member(&bio, "olga").await;
    let admin = &app.browser;
    let path = format!("/orgs/{}/resources", astro.id);
    let created = admin
        .submit(
            &path,
            &path,
            &[("name", "GPU"), ("short_name", "gpu"), ("kind", "cluster")],
        )
        .await;
    assert_eq!(created.status(), 303, "admins add any kind");
    let page_path = location(&created);
    let page = admin.page(&page_path).await;
    let version = page.attr("input[name=version]", "value").unwrap();
    let id = page_path
        .split('/')
        .nth(4)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let moved = admin
        .submit(
            &page_path,
            &format!("/orgs/{}/resources/{id}/move", astro.id),
            &[("version", &version), ("organisation", "bio")],
        )
        .await;
    assert_eq!(moved.status(), 303);
    let now_at = format!("/orgs/{}/resources/{id}", bio.id);
    assert!(location(&moved).starts_with(&now_at));
    let page = admin.page(&now_at).await;
    assert_eq!(page.text(".group code"), "bio-gpu");
    app.run_jobs().await;
    assert!(
        app.slapd
            .search_entry("cn=astro-gpu,ou=resources,dc=example,dc=org")
            .await
            .is_none()
    );
    // Retiring asks first, on a page that names the group it empties and changes nothing.
    let retire = format!("{now_at}/retire");
    assert_eq!(
        page.attr_all("a.button-link.danger", "href"),
        std::slice::from_ref(&retire)
    );
    let confirm = admin.page(&retire).await;
    assert_eq!(confirm.text("h1"), "Retire GPU of Bio?");
    assert!(confirm.select_all("p.consequence")[0].contains("bio-gpu is emptied"));
    assert_eq!(
        confirm.attr_all("a.cancel", "href"),
        std::slice::from_ref(&now_at)
    );
    assert_eq!(
        admin.get(&format!("{now_at}/delete-group")).await.status(),
        403,
        "an active resource's group is not deleted"
    );
    let version = confirm.attr("input[name=version]", "value").unwrap();
    let retired = admin
        .submit(&retire, &retire, &[("version", &version)])
        .await;
    assert_eq!(retired.status(), 303);
    let delete = format!("{now_at}/delete-group");
    let confirm = admin.page(&delete).await;
    assert_eq!(
        confirm.text("h1"),
        "Delete the group bio-gpu of the retired resource GPU?"
    );
    let version = confirm.attr("input[name=version]", "value").unwrap();
    let deleted = admin
        .submit(&delete, &delete, &[("version", &version)])
        .await;
    assert_eq!(deleted.status(), 303);
    app.run_jobs().await;
    assert!(
        app.slapd
            .search_entry("cn=bio-gpu,ou=resources,dc=example,dc=org")
            .await
            .is_none()
    );
    assert!(
        admin
            .page(&now_at)
            .await
            .text("#admin-title + p")
            .contains("deleted")
    );
}
