//! A person's own account: name and password changes (reaching LDAP), and forgotten
//! passwords by email.

use roster::domain::Role;

use crate::support::app::{GOOD_PASSWORD, TestApp, into_page, location};

const NEW_PASSWORD: &str = "saffron kayak meadow 77";

#[tokio::test]
async fn a_password_change_reaches_ldap_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let browser = app.activated_member(&org, "mcurie").await;
    let laptop = app.new_browser();
    assert_eq!(laptop.sign_in("mcurie", GOOD_PASSWORD).await.status(), 303);

    let profile = browser.page("/account").await;
    assert_eq!(profile.text("dd.username"), "mcurie");
    assert_eq!(
        profile.select_all("ul.organisations li"),
        vec!["Astro — Member"]
    );
    let wrong = into_page(
        browser
            .submit(
                "/account",
                "/account/password",
                &[
                    ("current_password", "nope"),
                    ("password", NEW_PASSWORD),
                    ("password_confirmation", NEW_PASSWORD),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(wrong.status, 422);
    assert_eq!(
        wrong.text("#current_password-error"),
        "Error: This is not your current password."
    );

    let changed = browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", GOOD_PASSWORD),
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&changed), "/account?done=password");
    assert_eq!(
        browser.page("/account?done=password").await.status,
        200,
        "this browser stays signed in"
    );
    assert_eq!(
        location(&laptop.get("/").await),
        "/sign-in",
        "the other session ended"
    );

    let dn = app.slapd.person_dn("mcurie");
    assert!(app.slapd.can_bind(&dn, NEW_PASSWORD).await);
    assert!(!app.slapd.can_bind(&dn, GOOD_PASSWORD).await);
    assert_eq!(
        app.new_browser()
            .sign_in("mcurie", NEW_PASSWORD)
            .await
            .status(),
        303
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_name_change_reaches_ldap_and_the_member_list() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let browser = app.activated_member(&org, "mcurie").await;
    // The owner's list is read (and kept) before the change.
    let before = owner
        .page(&format!("/orgs/{}/members?q=mcurie", org.id))
        .await;
    assert_eq!(before.text("td.name"), "Person");
    let response = browser
        .submit(
            "/account",
            "/account/name",
            &[("given_name", "Marie"), ("surname", "Skłodowska-Curie")],
        )
        .await;
    assert_eq!(location(&response), "/account?done=name");
    let entry = app
        .slapd
        .search_entry(&app.slapd.person_dn("mcurie"))
        .await
        .unwrap();
    assert_eq!(entry.attrs["cn"], vec!["Marie Skłodowska-Curie"]);
    assert_eq!(entry.attrs["sn"], vec!["Skłodowska-Curie"]);
    assert_eq!(entry.attrs["givenName"], vec!["Marie"]);
    let after = owner
        .page(&format!("/orgs/{}/members?q=marie", org.id))
        .await;
    assert_eq!(after.text("td.name"), "Marie Skłodowska-Curie");
    let bad = into_page(
        browser
            .submit("/account", "/account/name", &[("surname", "  ")])
            .await,
    )
    .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.text("#surname-error"), "Error: This field is required.");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_an_emailed_single_use_link() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "mcurie").await;
    let stranger = app.new_browser();

    // Known and unknown addresses get the same answer.
    let known = into_page(
        stranger
            .submit(
                "/password-reset",
                "/password-reset",
                &[("email", "mcurie@example.org")],
            )
            .await,
    )
    .await;
    let unknown = into_page(
        stranger
            .submit(
                "/password-reset",
                "/password-reset",
                &[("email", "nobody@example.org")],
            )
            .await,
    )
    .await;
    assert_eq!(known.status, 200);
    assert_eq!(known.text(".notice"), unknown.text(".notice"));

    let mail = app.mail_to("mcurie@example.org").await;
    let mail = if mail.subject == "Reset your Roster password" {
        mail
    } else {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(found) = app
                .smtp
                .messages()
                .into_iter()
                .find(|m| m.subject == "Reset your Roster password")
            {
                break found;
            }
            assert!(std::time::Instant::now() < deadline, "no reset mail");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let link = mail
        .links()
        .into_iter()
        .find(|l| l.contains("/password-reset/"))
        .unwrap();
    assert!(
        app.smtp
            .messages()
            .iter()
            .all(|m| !m.is_to("nobody@example.org"))
    );

    let response = stranger
        .submit(
            &link,
            &link,
            &[
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&response), "/account?done=password");
    let dn = app.slapd.person_dn("mcurie");
    assert!(
        app.slapd.can_bind(&dn, NEW_PASSWORD).await,
        "LDAP has the new password"
    );
    assert!(!app.slapd.can_bind(&dn, GOOD_PASSWORD).await);

    // Single use.
    let again = app.new_browser().page(&link).await;
    assert_eq!(again.status, 410);
    assert_eq!(again.text("h1"), "Reset link not valid");
    assert_eq!(
        app.new_browser()
            .page("/password-reset/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .await
            .status,
        410
    );
    // An expired link is refused the same way.
    stranger
        .submit(
            "/password-reset",
            "/password-reset",
            &[("email", "mcurie@example.org")],
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let second = loop {
        let links: Vec<String> = app
            .smtp
            .messages()
            .into_iter()
            .filter(|m| m.subject == "Reset your Roster password")
            .flat_map(|m| m.links())
            .filter(|l| l.contains("/password-reset/") && *l != link)
            .collect();
        if let Some(found) = links.into_iter().next() {
            break found;
        }
        assert!(std::time::Instant::now() < deadline, "no second reset mail");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let pool = app.database.pool().await;
    sqlx::query("UPDATE password_resets SET expires_at = 1 WHERE used_at IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(app.new_browser().page(&second).await.status, 410);
    let malformed = into_page(
        stranger
            .submit(
                "/password-reset",
                "/password-reset",
                &[("email", "not-an-email")],
            )
            .await,
    )
    .await;
    assert_eq!(malformed.status, 422);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn each_form_on_the_profile_shows_its_errors_in_its_own_panel() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let browser = app.activated_member(&org, "mcurie").await;
    const NAME_PANEL: &str = "section[aria-labelledby=name-title]";
    const PASSWORD_PANEL: &str = "section[aria-labelledby=password-title]";

    let wrong = into_page(
        browser
            .submit(
                "/account",
                "/account/password",
                &[
                    ("current_password", "nope"),
                    ("password", NEW_PASSWORD),
                    ("password_confirmation", NEW_PASSWORD),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(wrong.status, 422);
    // The summary sits in the password panel and links to the field...
    assert_eq!(
        wrong.select_all(&format!("{PASSWORD_PANEL} .error-summary li a")),
        vec!["This is not your current password."]
    );
    assert_eq!(
        wrong
            .attr(&format!("{PASSWORD_PANEL} .error-summary li a"), "href")
            .as_deref(),
        Some("#current_password")
    );
    // ...the message is right above the current-password input...
    assert_eq!(
        wrong.text(&format!(
            "{PASSWORD_PANEL} .field-invalid p#current_password-error + input#current_password"
        )),
        ""
    );
    // ...and the name panel shows none of it.
    assert!(
        wrong
            .select_all(&format!("{NAME_PANEL} .error-summary"))
            .is_empty()
    );
    assert!(
        wrong
            .select_all(&format!("{NAME_PANEL} .field-error"))
            .is_empty()
    );

    // A name error the other way round.
    let bad_name = into_page(
        browser
            .submit(
                "/account",
                "/account/name",
                &[("given_name", "Marie"), ("surname", "")],
            )
            .await,
    )
    .await;
    assert_eq!(bad_name.status, 422);
    assert_eq!(
        bad_name
            .attr(&format!("{NAME_PANEL} .error-summary li a"), "href")
            .as_deref(),
        Some("#surname")
    );
    assert_eq!(
        bad_name
            .select_all(&format!("{NAME_PANEL} .field-invalid #surname-error"))
            .len(),
        1
    );
    assert!(
        bad_name
            .select_all(&format!("{PASSWORD_PANEL} .error-summary"))
            .is_empty()
    );
}
