//! Staff boundaries: helpdesk cannot take over a staff account, nobody locks, deletes or
//! demotes themselves, the last site admin stays, and every refused attempt is audited.

use roster::domain::Role;

use crate::keys::{add_key, ed25519_key, ldap_keys};
use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, into_page, location};

/// The admin `boss@example.org` (the app's own browser), a helpdesk person, and their ids.
struct Staff {
    app: TestApp,
    helpdesk: Browser,
    admin_id: String,
    helpdesk_id: String,
}

async fn staff() -> Staff {
    let app = TestApp::spawn().await;
    app.signed_in_admin("boss@example.org").await;
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let admin_id = app.person_id("boss@example.org").await;
    let helpdesk_id = app.person_id("desk@example.org").await;
    Staff {
        app,
        helpdesk,
        admin_id,
        helpdesk_id,
    }
}

/// The actions of the newest history rows of `person_id`'s account page, as `viewer` sees
/// them.
async fn history(viewer: &Browser, person_id: &str) -> Vec<String> {
    viewer
        .page(&format!("/admin/accounts/{person_id}"))
        .await
        .attr_all("table.history tbody tr", "data-event")
}

/// Counts the audited refusals of `person_id`'s account.
async fn refusals(viewer: &Browser, person_id: &str) -> usize {
    history(viewer, person_id)
        .await
        .iter()
        .filter(|action| *action == "staff.refused")
        .count()
}

/// Makes `email`'s account a site admin through the staff-roles page.
async fn grant(app: &TestApp, email: &str, role: &str) {
    let response = app
        .browser
        .submit(
            "/admin/staff",
            "/admin/staff",
            &[("email", email), ("role", role)],
        )
        .await;
    assert_eq!(location(&response), "/admin/staff?done=granted");
}

#[tokio::test]
async fn helpdesk_cannot_take_over_an_admin_account() {
    let staff = staff().await;
    let app = &staff.app;
    // The target: an admin with a POSIX account, an SSH key and an LDAP bind.
    let org = app.create_org("Astro", "astro").await;
    let ada = app.activated_member(&org, "ada").await;
    assert_eq!(add_key(&ada, &ed25519_key(4)).await.status(), 303);
    grant(app, "ada@example.org", "admin").await;
    let ada_id = app.person_id("ada@example.org").await;
    let admin_page = format!("/admin/accounts/{ada_id}");

    // The page shows the account, but none of the controls that would change it.
    let page = staff.helpdesk.page(&admin_page).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text("p.staff-protected")
            .contains("site administrator")
    );
    for action in ["contact", "password-reset", "lock", "keys"] {
        let selector = format!("form[action*='/{action}']");
        assert!(page.select_all(&selector).is_empty(), "{action} is offered");
    }
    let token = staff.helpdesk.page("/account").await.csrf_token();
    let key_id = app.context.store.keys_of(&ada_id).await.unwrap()[0]
        .id
        .clone();

    // The attack: change the admin's email to the helpdesk's mailbox, mail a reset link
    // there, lock the admin, remove a key. Each a 403 page saying why.
    let attempts: [(String, Vec<(&str, &str)>); 5] = [
        (
            format!("{admin_page}/contact"),
            vec![
                ("surname", "Admin"),
                ("given_name", ""),
                ("email", "attacker@example.org"),
            ],
        ),
        (format!("{admin_page}/password-reset"), vec![]),
        (format!("{admin_page}/lock"), vec![("reason", "mine now")]),
        (format!("{admin_page}/unlock"), vec![]),
        (format!("{admin_page}/keys/{key_id}/remove"), vec![]),
    ];
    for (path, fields) in &attempts {
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        let page = into_page(staff.helpdesk.post_form(path, &form).await).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(
            page.text("p.error-message")
                .contains("only a site administrator"),
            "{path}"
        );
    }
    // Nothing changed: the admin's email, key, LDAP bind and sign-in are intact, and no
    // reset mail went anywhere.
    let admin = app
        .context
        .store
        .person_by_id(&ada_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.email, "ada@example.org");
    assert_eq!(ldap_keys(app, "ada").await, [ed25519_key(4)]);
    assert!(
        app.slapd
            .can_bind(&app.slapd.person_dn("ada"), GOOD_PASSWORD)
            .await
    );
    assert!(
        !app.smtp
            .messages()
            .iter()
            .any(|mail| mail.subject.contains("Reset")),
        "a reset link was mailed"
    );
    assert_eq!(ada.get("/").await.status(), 200, "still signed in");
    // Every attempt is in the admin's history, by the helpdesk person, from their address.
    let page = app.browser.page(&admin_page).await;
    let actions = page.attr_all("table.history tbody tr", "data-event");
    assert_eq!(
        actions.iter().filter(|a| *a == "staff.refused").count(),
        attempts.len()
    );
    assert_eq!(page.select_all("table.history td.event .actor")[0], "Staff");
    assert_eq!(page.select_all("table.history td.ip")[0], "127.0.0.1");

    // Helpdesk cannot change another helpdesk person either; an admin can.
    let other = app.staff_browser("desk2@example.org", Role::Helpdesk).await;
    drop(other);
    let other_id = app.person_id("desk2@example.org").await;
    let other_page = format!("/admin/accounts/{other_id}");
    let refused = staff
        .helpdesk
        .submit(
            &other_page,
            &format!("{other_page}/lock"),
            &[("reason", "")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    let allowed = app
        .browser
        .submit(
            &other_page,
            &format!("{other_page}/lock"),
            &[("reason", "")],
        )
        .await;
    assert_eq!(location(&allowed), format!("{other_page}?done=locked"));
    staff.app.assert_directory_settled().await;
}

#[tokio::test]
async fn nobody_locks_deletes_or_demotes_themselves_and_each_attempt_is_audited() {
    let staff = staff().await;
    let app = &staff.app;
    let own_page = format!("/admin/accounts/{}", staff.admin_id);

    // The own account page offers no lock and no delete.
    let page = app.browser.page(&own_page).await;
    assert!(page.select_all("form[action$='/lock']").is_empty());
    assert!(page.select_all("a[href$='/delete']").is_empty());

    let token = app.browser.page("/account").await.csrf_token();
    let attempts = [
        (format!("{own_page}/lock"), vec![("reason", "")]),
        (
            format!("{own_page}/delete"),
            vec![("confirm", "boss@example.org")],
        ),
        (
            format!("/admin/staff/{}/admin/revoke", staff.admin_id),
            vec![],
        ),
    ];
    for (path, fields) in &attempts {
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        let page = into_page(app.browser.post_form(path, &form).await).await;
        assert_eq!(page.status, 409, "{path}");
        assert!(
            page.text("p.error-message").contains("your own account"),
            "{path}"
        );
    }
    assert_eq!(refusals(&app.browser, &staff.admin_id).await, 3);
    // Still an admin, still signed in.
    assert_eq!(app.browser.page("/admin/staff").await.status, 200);

    // Helpdesk's attempt at their own account is refused too (and audited).
    let own_desk = format!("/admin/accounts/{}", staff.helpdesk_id);
    let response = staff
        .helpdesk
        .submit(&own_desk, &format!("{own_desk}/lock"), &[("reason", "")])
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(refusals(&app.browser, &staff.helpdesk_id).await, 1);
    staff.app.assert_directory_settled().await;
}

#[tokio::test]
async fn two_admins_locking_each_other_at_once_leave_one_admin() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("first@example.org").await;
    let second = app
        .staff_browser("second@example.org", Role::SiteAdmin)
        .await;
    let first_id = app.person_id("first@example.org").await;
    let second_id = app.person_id("second@example.org").await;
    for _ in 0..3 {
        let first_page = format!("/admin/accounts/{second_id}");
        let second_page = format!("/admin/accounts/{first_id}");
        let first_token = app.browser.page(&first_page).await.csrf_token();
        let second_token = second.page(&second_page).await.csrf_token();
        let first_lock = format!("{first_page}/lock");
        let second_lock = format!("{second_page}/lock");
        let first_form = [("csrf_token", first_token.as_str()), ("reason", "")];
        let second_form = [("csrf_token", second_token.as_str()), ("reason", "")];
        let (a, b) = tokio::join!(
            app.browser.post_form(&first_lock, &first_form),
            second.post_form(&second_lock, &second_form),
        );
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        assert!(statuses.iter().all(|status| *status < 500), "{statuses:?}");
        let first_active = is_active(&app, &first_id).await;
        let second_active = is_active(&app, &second_id).await;
        assert!(
            first_active || second_active,
            "both admins were locked: {statuses:?}"
        );
        // Unlock whoever was locked, from the admin still active, for the next round.
        let (survivor, locked) = if first_active {
            (&app.browser, &second_id)
        } else {
            (&second, &first_id)
        };
        if !is_active(&app, locked).await {
            let page = format!("/admin/accounts/{locked}");
            let response = survivor.submit(&page, &format!("{page}/unlock"), &[]).await;
            assert_eq!(response.status(), 303);
        }
        // Both sign in again for the next round (a lock ended the locked one's sessions).
        for (browser, email) in [
            (&app.browser, "first@example.org"),
            (&second, "second@example.org"),
        ] {
            if browser.get("/").await.status() != 200 {
                assert_eq!(browser.sign_in(email, GOOD_PASSWORD).await.status(), 303);
            }
        }
    }
    app.assert_directory_settled().await;
}

async fn is_active(app: &TestApp, person_id: &str) -> bool {
    app.context
        .store
        .person_by_id(person_id)
        .await
        .unwrap()
        .is_some_and(|person| person.status == roster::store::people::AccountStatus::Active)
}
