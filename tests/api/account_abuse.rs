//! Ways in and ways to annoy, each performed against real slapd, SMTP and database: reset
//! requests that lock people out, a username that dodges the account's budget, look-alike
//! emails, control characters in key comments, over-long and common passwords.

use roster::domain::Role;

use crate::keys::{add_key, ed25519_key, ldap_keys};
use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, into_page};

/// Asks for a reset link for `email` from a fresh anonymous browser; returns the status
/// and the page's notice.
async fn ask_for_reset(app: &TestApp, email: &str) -> (u16, String) {
    let browser = app.new_browser();
    let page = into_page(
        browser
            .submit("/password-reset", "/password-reset", &[("email", email)])
            .await,
    )
    .await;
    let notice = page.select_all(".notice").join(" ");
    (page.status.as_u16(), notice)
}

fn reset_mails_to(app: &TestApp, address: &str) -> usize {
    app.smtp
        .messages()
        .iter()
        .filter(|mail| mail.is_to(address) && mail.subject == "Reset your Roster password")
        .count()
}

#[tokio::test]
async fn reset_requests_never_lock_anyone_out_and_mail_a_few_times_an_hour() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;

    // Twelve anonymous requests for Ada's address (the sign-in budget is ten per account).
    let mut notices = Vec::new();
    for _ in 0..12 {
        let (status, notice) = ask_for_reset(&app, "ada@example.org").await;
        assert_eq!(status, 200);
        notices.push(notice);
    }
    // An unknown address gets exactly the same answer.
    let (status, notice) = ask_for_reset(&app, "nobody@example.org").await;
    assert_eq!(status, 200);
    notices.push(notice);
    assert!(
        notices.windows(2).all(|pair| pair[0] == pair[1]),
        "{notices:?}"
    );

    // Three mails arrived, not twelve.
    app.smtp
        .wait_for_messages(4, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(reset_mails_to(&app, "ada@example.org"), 3);

    // Ada's correct password still signs her in, by email and by nothing else being spent.
    let browser = app.new_browser();
    assert_eq!(
        browser
            .sign_in("ada@example.org", GOOD_PASSWORD)
            .await
            .status(),
        303
    );

    // An hour later the budget is back.
    app.context.clock.advance(3601);
    ask_for_reset(&app, "ada@example.org").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while reset_mails_to(&app, "ada@example.org") < 4 {
        assert!(std::time::Instant::now() < deadline, "no fourth mail");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn the_username_shares_the_accounts_budget_of_wrong_passwords() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "ada").await;
    let guesser = app.new_browser();
    for _ in 0..10 {
        let response = guesser.sign_in("ada@example.org", "wrong password").await;
        assert_eq!(response.status(), 401);
    }
    assert_eq!(
        guesser
            .sign_in("ada@example.org", "wrong password")
            .await
            .status(),
        429
    );
    // The username is the same account: no ten fresh guesses.
    for password in ["wrong password", GOOD_PASSWORD] {
        let response = guesser.sign_in("ada", password).await;
        assert_eq!(response.status(), 429, "username with {password:?}");
        assert!(response.headers().contains_key("retry-after"));
    }
    // Unknown logins are limited alike, so the limit tells nobody who has an account.
    for _ in 0..10 {
        assert_eq!(
            guesser.sign_in("ghost@example.org", "x").await.status(),
            401
        );
    }
    assert_eq!(
        guesser.sign_in("ghost@example.org", "x").await.status(),
        429
    );
    app.assert_directory_settled().await;
}

/// Addresses LDAP's `mail` (IA5String) cannot hold, or that pose as another address.
const LOOK_ALIKES: [&str; 3] = [
    "admin@ex\u{0430}mple.org", // Cyrillic а
    "\u{ff41}dmin@example.org", // full-width a
    "b\u{fc}cher@example.org",  // non-ASCII local part
];

#[tokio::test]
async fn look_alike_emails_are_refused_at_invitation_contact_change_and_staff_grant() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("boss@example.org").await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "ada").await;
    let ada_id = app.person_id("ada@example.org").await;
    let invitations = format!("/orgs/{}/invitations", org.id);
    let account = format!("/admin/accounts/{ada_id}");
    for email in LOOK_ALIKES {
        let invite = into_page(
            app.browser
                .submit(
                    &invitations,
                    &invitations,
                    &[("surname", "Mimic"), ("email", email), ("role", "member")],
                )
                .await,
        )
        .await;
        assert_eq!(invite.status, 422, "invite {email}");
        assert!(
            invite.text("#email-error").contains("plain ASCII"),
            "{email}"
        );

        let contact = into_page(
            app.browser
                .submit(
                    &account,
                    &format!("{account}/contact"),
                    &[("surname", "Person"), ("given_name", ""), ("email", email)],
                )
                .await,
        )
        .await;
        assert_eq!(contact.status, 422, "contact {email}");
        assert!(contact.text("#email-error").contains("plain ASCII"));

        let grant = into_page(
            app.browser
                .submit(
                    "/admin/staff",
                    "/admin/staff",
                    &[("email", email), ("role", "helpdesk")],
                )
                .await,
        )
        .await;
        assert_eq!(grant.status, 422, "grant {email}");
        assert!(grant.text("#email-error").contains("plain ASCII"));
    }
    // Nothing was stored or mailed.
    assert!(
        app.context
            .store
            .invitations_of_organisation(&org.id)
            .await
            .unwrap()
            .iter()
            .all(|listed| listed.invitation.email.is_ascii())
    );
    let entry = app
        .slapd
        .search_entry(&app.slapd.person_dn("ada"))
        .await
        .unwrap();
    assert_eq!(entry.attrs["mail"], ["ada@example.org"]);
    assert!(
        app.smtp
            .messages()
            .iter()
            .all(|mail| mail.to.iter().all(|to| to.is_ascii()))
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_job_ldap_refuses_for_good_fails_at_once_and_shows_on_the_outbox_page() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("boss@example.org").await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "ada").await;
    let ada_id = app.person_id("ada@example.org").await;
    // An address stored before input was checked (as an older release allowed).
    let pool = app.database.pool().await;
    sqlx::query("UPDATE people SET email = $1, email_normalized = $1 WHERE id = $2")
        .bind("ada@ex\u{0430}mple.org")
        .bind(&ada_id)
        .execute(&pool)
        .await
        .unwrap();
    let account = format!("/admin/accounts/{ada_id}");
    let response = app
        .browser
        .submit(&account, &format!("{account}/resync"), &[])
        .await;
    assert_eq!(response.status(), 303);

    // Failed after one attempt, with the server's words, and not waiting for a retry.
    let page = app.browser.page("/admin/jobs").await;
    assert_eq!(page.select_all("td.state"), ["Failed"]);
    assert!(
        page.text("td.error").contains("invalid per syntax"),
        "{}",
        page.text("td.error")
    );
    let (status, attempts): (String, i64) = sqlx::query_as(
        "SELECT status, attempts FROM jobs WHERE subject_id = $1 AND status <> 'done'",
    )
    .bind(&ada_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert!(attempts <= 1, "{attempts} attempts");
    // The worker leaves it alone, however much time passes.
    app.context.clock.advance(3600);
    while roster::jobs::run_one_due(&app.context).await {}
    let still: String =
        sqlx::query_scalar("SELECT status FROM jobs WHERE subject_id = $1 AND status <> 'done'")
            .bind(&ada_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(still, "failed");

    // Fixing the address applies the account, and the failure is settled.
    let fixed = app
        .browser
        .submit(
            &account,
            &format!("{account}/contact"),
            &[
                ("surname", "Person"),
                ("given_name", ""),
                ("email", "ada@example.org"),
            ],
        )
        .await;
    assert_eq!(fixed.status(), 303, "{}", fixed.text().await.unwrap());
    let page = app.browser.page("/admin/jobs").await;
    assert!(
        page.select_all("td.state").is_empty(),
        "{:?}",
        page.select_all("td.error")
    );
    let entry = app
        .slapd
        .search_entry(&app.slapd.person_dn("ada"))
        .await
        .unwrap();
    assert_eq!(entry.attrs["mail"], ["ada@example.org"]);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn key_comments_with_control_characters_or_too_long_are_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let ada = app.activated_member(&org, "ada").await;
    let key = ed25519_key(5);
    let base = key.trim_end_matches("key5@test");
    for comment in [
        "evil\u{1b}[2J\u{1b}[31mroot",
        "one\rtwo",
        "nul\u{0}byte",
        "line\u{2028}separator",
    ] {
        let response = add_key(&ada, &format!("{base}{comment}")).await;
        assert_eq!(response.status(), 422, "{comment:?}");
        let page = into_page(response).await;
        assert!(
            page.text("#key-error").contains("control or invisible"),
            "{comment:?}"
        );
    }
    let long = format!("{base}{}", "c".repeat(257));
    let page = into_page(add_key(&ada, &long).await).await;
    assert_eq!(page.status, 422);
    assert!(page.text("#key-error").contains("at most 256"));
    assert!(ldap_keys(&app, "ada").await.is_empty());
    assert_eq!(add_key(&ada, &key).await.status(), 303);
    assert_eq!(ldap_keys(&app, "ada").await, [key]);
    app.assert_directory_settled().await;
}

/// 72 bytes of passphrase: as long as bcrypt reads.
fn passphrase_of_72_bytes() -> String {
    let typed = format!("{:.<72}", "plum tractor violin 42 harbour lantern ");
    assert_eq!(typed.len(), 72);
    typed
}

#[tokio::test]
async fn a_password_longer_than_72_bytes_never_signs_in_on_its_first_72() {
    let app = TestApp::spawn().await;
    let link = app.invite_admin("ada@example.org", "Lovelace").await;
    let password = passphrase_of_72_bytes();
    let browser = app.new_browser();
    assert_eq!(
        browser.accept_invitation(&link, &password).await.status(),
        303
    );
    let stranger = app.new_browser();
    for longer in [
        format!("{password}x"),
        format!("{password}{}", "y".repeat(100)),
    ] {
        let response = stranger.sign_in("ada@example.org", &longer).await;
        assert_eq!(response.status(), 401, "{} bytes", longer.len());
    }
    assert_eq!(
        stranger
            .sign_in("ada@example.org", &password)
            .await
            .status(),
        303
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn common_and_over_long_passwords_are_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let link = app.invite_admin("ada@example.org", "Lovelace").await;
    let browser = app.new_browser();
    let page = browser.page(&link).await;
    assert!(
        page.select_all("form").join(" ").contains("72 bytes"),
        "the form states the limit"
    );
    for common in [
        "correct horse battery staple",
        "Summer2023!!",
        "Monkey123456!",
    ] {
        let page = into_page(browser.accept_invitation(&link, common).await).await;
        assert_eq!(page.status, 422, "{common}");
        assert!(
            page.text("#password-error")
                .contains("most common passwords"),
            "{common}: {}",
            page.text("#password-error")
        );
    }
    // Sixty Cyrillic letters are 120 bytes: the message says why.
    let cyrillic = "пароль".repeat(10);
    let page = into_page(browser.accept_invitation(&link, &cyrillic).await).await;
    assert_eq!(page.status, 422);
    let message = page.text("#password-error");
    assert!(
        message.contains("120 bytes") && message.contains("72"),
        "{message}"
    );
    // The invitation is still open.
    assert_eq!(
        browser
            .accept_invitation(&link, GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_helpdesk_grant_of_a_staff_role_is_an_admin_matter() {
    // Helpdesk cannot open the staff-roles page at all, so cannot grant itself admin.
    let app = TestApp::spawn().await;
    app.signed_in_admin("boss@example.org").await;
    let helpdesk: Browser = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    assert_eq!(helpdesk.get("/admin/staff").await.status(), 403);
    let token = helpdesk.page("/account").await.csrf_token();
    let response = helpdesk
        .post_form(
            "/admin/staff",
            &[
                ("csrf_token", token.as_str()),
                ("email", "desk@example.org"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(response.status(), 403);
    app.assert_directory_settled().await;
}
