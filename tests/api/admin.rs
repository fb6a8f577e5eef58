//! Site admin: the directory outbox, with failing jobs and "retry now".

use roster::domain::Role;

use crate::support::app::{TestApp, location};

#[tokio::test]
async fn admins_see_waiting_directory_jobs_with_their_error_and_can_retry_them() {
    let mut app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let empty = app.browser.page("/admin/jobs").await;
    assert_eq!(
        empty.text(".empty"),
        "Nothing is waiting: LDAP is up to date."
    );

    // A member added while LDAP is down leaves a failing job.
    let token = owner.page(&format!("/orgs/{}", org.id)).await.csrf_token();
    let list =
        crate::support::app::into_page(owner.get(&format!("/orgs/{}/members", org.id)).await).await;
    assert_eq!(list.status, 200);
    app.slapd.stop();
    let version = "1";
    let members = app
        .context
        .store
        .members_page(&org.id, None, 1, 50, None)
        .await
        .unwrap();
    let pi = &members.members[0];
    let response = owner
        .post_form(
            &format!("/orgs/{}/members/{}/end-date", org.id, pi.membership_id),
            &[
                ("csrf_token", &token),
                ("version", version),
                ("ends_on", "2099-12-31"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = app.browser.page("/admin/jobs").await;
    assert_eq!(page.select_all("td.kind"), vec!["sync_group"]);
    assert_eq!(page.text("td.subject"), org.id);
    assert!(
        page.text("td.error").starts_with("LDAP server"),
        "{}",
        page.text("td.error")
    );

    // The owner may not see it.
    assert_eq!(owner.get("/admin/jobs").await.status(), 403);

    // LDAP is back; "retry now" applies it at once.
    app.slapd.start_again();
    let retry = page.attr("form[action$='/retry']", "action").unwrap();
    let response = app
        .browser
        .post_form(&retry, &[("csrf_token", &page.csrf_token())])
        .await;
    assert_eq!(location(&response), "/admin/jobs?done=retried");
    let after = app.browser.page("/admin/jobs?done=retried").await;
    assert_eq!(
        after.text(".empty"),
        "Nothing is waiting: LDAP is up to date."
    );
    // Retrying something that no longer waits is a 404, not a 500.
    let again = app
        .browser
        .post_form(&retry, &[("csrf_token", &after.csrf_token())])
        .await;
    assert_eq!(again.status(), 404);
    app.assert_directory_settled().await;
}
