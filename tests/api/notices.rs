//! People hear about changes to how they sign in (ASVS 2.5.5): each notice, checked in the
//! mailbox, names what changed, when, from which address, and what to do if it was not them.

use roster::domain::Role;

use crate::keys::{add_key, ed25519_key};
use crate::staff::mail_with_subject;
use crate::support::app::{GOOD_PASSWORD, TestApp, into_page, location};

/// Waits for the notice with this subject to Ada, and checks what every notice must say.
async fn notice(app: &TestApp, subject: &str, names: &str) -> String {
    let mail = mail_with_subject(app, "ada@example.org", subject).await;
    let text = mail.text;
    assert!(text.contains(names), "{subject}: {text}");
    assert!(
        text.contains("from the address 127.0.0.1"),
        "{subject}: {text}"
    );
    assert!(text.contains(" UTC"), "when: {text}");
    assert!(
        text.contains("If it was not you") || text.contains("If you do not know why"),
        "{subject}: {text}"
    );
    assert!(mail.html.contains(names), "{subject}: HTML part");
    text
}

#[tokio::test]
async fn each_change_to_how_someone_signs_in_is_mailed_to_them() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let ada = app.activated_member(&org, "ada").await;
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let ada_id = app.person_id("ada@example.org").await;
    let account = format!("/admin/accounts/{ada_id}");

    // A key added and removed by Ada.
    assert_eq!(add_key(&ada, &ed25519_key(1)).await.status(), 303);
    let key = app.context.store.keys_of(&ada_id).await.unwrap().remove(0);
    notice(
        &app,
        "An SSH key was added to your Roster account",
        &key.fingerprint,
    )
    .await;
    let removed = ada
        .submit(
            "/account/keys",
            &format!("/account/keys/{}/remove", key.id),
            &[],
        )
        .await;
    assert_eq!(removed.status(), 303);
    notice(
        &app,
        "An SSH key was removed from your Roster account",
        &key.fingerprint,
    )
    .await;

    // A key removed by the helpdesk says so.
    assert_eq!(add_key(&ada, &ed25519_key(2)).await.status(), 303);
    let key = app.context.store.keys_of(&ada_id).await.unwrap().remove(0);
    app.smtp.clear();
    let response = helpdesk
        .submit(&account, &format!("{account}/keys/{}/remove", key.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    let text = notice(
        &app,
        "An SSH key was removed from your Roster account",
        &key.fingerprint,
    )
    .await;
    assert!(text.contains("by the helpdesk"), "{text}");

    // The password changed by Ada.
    let new_password = "quilt harbour meadow 77";
    let response = ada
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", GOOD_PASSWORD),
                ("password", new_password),
                ("password_confirmation", new_password),
            ],
        )
        .await;
    assert_eq!(location(&response), "/account?done=password");
    notice(
        &app,
        "Your Roster password was changed",
        "password was changed",
    )
    .await;

    // Locked and unlocked by the helpdesk.
    let response = helpdesk
        .submit(&account, &format!("{account}/lock"), &[("reason", "")])
        .await;
    assert_eq!(response.status(), 303);
    notice(&app, "Your Roster account was locked", "locked").await;
    let response = helpdesk
        .submit(&account, &format!("{account}/unlock"), &[])
        .await;
    assert_eq!(response.status(), 303);
    notice(&app, "Your Roster account was unlocked", "unlocked").await;

    // Reset through an emailed link.
    let stranger = app.new_browser();
    stranger
        .submit(
            "/password-reset",
            "/password-reset",
            &[("email", "ada@example.org")],
        )
        .await;
    let mail = mail_with_subject(&app, "ada@example.org", "Reset your Roster password").await;
    let link = mail
        .links()
        .into_iter()
        .find(|link| link.contains("/password-reset/"))
        .unwrap();
    let page = into_page(
        stranger
            .submit(
                &link,
                &link,
                &[
                    ("password", GOOD_PASSWORD),
                    ("password_confirmation", GOOD_PASSWORD),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(page.status, 303);
    notice(&app, "Your Roster password was reset", "password was reset").await;
    app.assert_directory_settled().await;
}
