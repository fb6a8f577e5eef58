//! A PI's invitations: sending, the emailed link, resend, revoke, duplicates, the list.

use roster::domain::Role;

use crate::support::app::{GOOD_PASSWORD, TestApp, into_page};

async fn invite(
    browser: &crate::support::app::Browser,
    org_id: &str,
    fields: &[(&str, &str)],
) -> crate::support::app::Page {
    let path = format!("/orgs/{org_id}/invitations");
    into_page(browser.submit(&path, &path, fields).await).await
}

#[tokio::test]
async fn a_pi_invites_by_surname_and_email_and_the_link_works() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;

    let page = invite(
        &owner,
        &org.id,
        &[
            ("surname", "Curie"),
            ("given_name", "Marie"),
            ("email", "marie@example.org"),
            ("role", "member"),
            ("ends_on", "2099-12-31"),
        ],
    )
    .await;
    assert_eq!(page.status, 200);
    let shown = page.attr("#invitation-link", "value").unwrap();
    assert_eq!(
        page.attr("#invitation-link", "readonly").as_deref(),
        Some(""),
        "selectable, not editable"
    );
    assert_eq!(
        page.text("label[for=invitation-link]"),
        "Invitation link (select it and copy; it is shown only now)"
    );

    let mail = app.mail_with_link(&shown).await;
    assert_eq!(
        mail.subject,
        "Tester invited you to Astrophysics Lab on Roster"
    );
    assert!(mail.is_to("marie@example.org"));

    // Listed as pending, with who sent it.
    let list = owner.page(&format!("/orgs/{}/invitations", org.id)).await;
    // Pending ones first; the PI's own (accepted) invitation is below.
    assert_eq!(
        list.select_all("table.invitations td.state"),
        vec!["pending", "accepted"]
    );
    assert_eq!(
        list.select_all("table.invitations td.email")[0],
        "marie@example.org"
    );
    assert_eq!(
        list.select_all("table.invitations .sent-by")[0],
        "by Tester"
    );
    let role = &list.select_all("table.invitations td.role")[0];
    assert!(role.starts_with("Member until 2099-12-31 (in "), "{role}");

    let newcomer = app.new_browser();
    assert_eq!(
        newcomer
            .accept_invitation(&shown, GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    let members = owner
        .page(&format!("/orgs/{}/members?q=curie", org.id))
        .await;
    assert_eq!(members.text("td.name"), "Marie Curie");
    assert_eq!(
        members.attr("td.ends time.date", "datetime").as_deref(),
        Some("2099-12-31")
    );
    assert_eq!(
        members.text("td.status"),
        "pending LDAP",
        "no POSIX account yet"
    );
    let list = owner.page(&format!("/orgs/{}/invitations", org.id)).await;
    assert_eq!(
        list.select_all("table.invitations td.state"),
        vec!["accepted", "accepted"]
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn bad_invitation_input_is_shown_next_to_each_field() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let manager = app.browser_for(&org, "m@example.org", Role::Manager).await;
    let invitations_before = app
        .context
        .store
        .invitations_of_organisation(&org.id)
        .await
        .unwrap()
        .len();
    let mails_before = app.smtp.messages().len();
    let page = invite(
        &manager,
        &org.id,
        &[
            ("surname", " "),
            ("email", "not-an-email"),
            ("role", "owner"),
            ("ends_on", "2001-01-01"),
        ],
    )
    .await;
    assert_eq!(page.status, 422);
    assert_eq!(
        page.text("#surname-error"),
        "Error: This field is required."
    );
    assert_eq!(
        page.text("#email-error"),
        "Error: Enter an email address like name@example.org."
    );
    assert_eq!(
        page.text("#role-error"),
        "Error: Choose one of the roles offered.",
        "a manager cannot invite owners"
    );
    assert_eq!(
        page.text("#ends_on-error"),
        "Error: The end date cannot be in the past."
    );
    assert_eq!(
        page.attr("input[name=email]", "value").as_deref(),
        Some("not-an-email"),
        "input kept"
    );
    // Nothing was stored and nothing was mailed.
    assert_eq!(
        app.context
            .store
            .invitations_of_organisation(&org.id)
            .await
            .unwrap()
            .len(),
        invitations_before
    );
    assert_eq!(app.smtp.messages().len(), mails_before);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn resend_kills_the_old_link_and_inviting_again_does_not_duplicate() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let first = invite(
        &owner,
        &org.id,
        &[("surname", "Curie"), ("email", "marie@example.org")],
    )
    .await;
    let first_link = first.attr("#invitation-link", "value").unwrap();

    // Inviting the same email again re-sends: a new link, the old one dead, one row.
    let second = invite(
        &owner,
        &org.id,
        &[("surname", "Curie"), ("email", "MARIE@example.org")],
    )
    .await;
    assert!(
        second
            .text(".fresh-link p")
            .starts_with("A new invitation link was made for")
    );
    let second_link = second.attr("#invitation-link", "value").unwrap();
    assert_ne!(first_link, second_link);
    assert_eq!(app.new_browser().page(&first_link).await.status, 404);
    let list = owner.page(&format!("/orgs/{}/invitations", org.id)).await;
    // One row for Marie (plus the PI's own accepted invitation).
    assert_eq!(
        list.select_all("table.invitations td.email")
            .iter()
            .filter(|e| *e == "marie@example.org")
            .count(),
        1
    );

    // The resend button does the same.
    let resend = list
        .attr("table.invitations form[action$='/resend']", "action")
        .unwrap();
    let resent = into_page(
        owner
            .post_form(&resend, &[("csrf_token", &list.csrf_token())])
            .await,
    )
    .await;
    assert_eq!(resent.status, 200);
    let third_link = resent.attr("#invitation-link", "value").unwrap();
    app.mail_with_link(&third_link).await;
    assert_eq!(app.new_browser().page(&second_link).await.status, 404);
    assert_eq!(app.new_browser().page(&third_link).await.status, 200);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_revoked_invitation_link_says_it_was_withdrawn() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let link = invite(
        &owner,
        &org.id,
        &[("surname", "Curie"), ("email", "marie@example.org")],
    )
    .await
    .attr("#invitation-link", "value")
    .unwrap();
    let list = owner.page(&format!("/orgs/{}/invitations", org.id)).await;
    let revoke = list
        .attr("table.invitations a[href$='/revoke']", "href")
        .unwrap();
    assert_eq!(owner.page(&revoke).await.status, 200, "asks first");
    let response = owner
        .post_form(&revoke, &[("csrf_token", &list.csrf_token())])
        .await;
    assert_eq!(response.status(), 303);
    let page = app.new_browser().page(&link).await;
    assert_eq!(page.status, 410);
    assert_eq!(page.text("h1"), "Invitation withdrawn");
    let list = owner
        .page(&format!("/orgs/{}/invitations?done=revoked", org.id))
        .await;
    let mut states = list.select_all("td.state");
    states.sort();
    assert_eq!(states, vec!["accepted", "revoked"]);
    assert_eq!(
        list.text(".notice"),
        "The invitation to marie@example.org was withdrawn; its link no longer works."
    );
    // Revoking again is a clear 409, not a 500.
    let again = owner
        .post_form(&revoke, &[("csrf_token", &list.csrf_token())])
        .await;
    assert_eq!(again.status(), 409);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn an_expired_invitation_is_listed_as_expired_and_can_be_resent() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let link = invite(
        &owner,
        &org.id,
        &[("surname", "Curie"), ("email", "marie@example.org")],
    )
    .await
    .attr("#invitation-link", "value")
    .unwrap();
    let pool = app.database.pool().await;
    sqlx::query("UPDATE invitations SET expires_at = 1 WHERE email = 'marie@example.org'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(app.new_browser().page(&link).await.status, 410);
    let list = owner.page(&format!("/orgs/{}/invitations", org.id)).await;
    assert_eq!(list.select_all("td.state")[0], "expired");
    let resend = list
        .attr("table.invitations form[action$='/resend']", "action")
        .unwrap();
    let page = into_page(
        owner
            .post_form(&resend, &[("csrf_token", &list.csrf_token())])
            .await,
    )
    .await;
    let fresh = page.attr("#invitation-link", "value").unwrap();
    assert_eq!(
        app.new_browser().page(&fresh).await.status,
        200,
        "a resend gives a new expiry"
    );
    app.assert_directory_settled().await;
}

const HOSTILE_MESSAGE: &str = "Welcome to the lab!\nSee <a href=\"https://evil.example/\">the wiki</a> <script>alert(1)</script>";

#[tokio::test]
async fn an_invitation_names_inviter_organisation_role_and_expiry_and_shows_the_message_as_text() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let page = invite(
        &owner,
        &org.id,
        &[
            ("surname", "Hopper"),
            ("given_name", "Grace"),
            ("email", "grace@example.org"),
            ("role", "manager"),
            (
                "message",
                &format!("  {}\r\n", HOSTILE_MESSAGE.replace('\n', "\r\n")),
            ),
        ],
    )
    .await;
    assert_eq!(page.status, 200);
    let link = page.attr("#invitation-link", "value").unwrap();

    // The email: who, where, as what, until when, and the message marked as the PI's.
    let mail = app.mail_with_link(&link).await;
    assert_eq!(
        mail.subject,
        "Tester invited you to Astrophysics Lab on Roster"
    );
    let text = mail.text.replace("\r\n", "\n");
    assert!(
        text.contains("Tester invited you to join Astrophysics Lab as a manager."),
        "{}",
        mail.text
    );
    assert!(text.contains("(in 7 days)"), "{text}");
    assert!(
        text.contains(&format!("Message from Tester:\n\n{HOSTILE_MESSAGE}\n")),
        "{text}"
    );
    let html = scraper::Html::parse_document(&mail.html.replace("\r\n", "\n"));
    let selected = |css: &str| -> Vec<String> {
        html.select(&scraper::Selector::parse(css).unwrap())
            .map(|element| element.text().collect::<String>())
            .collect()
    };
    assert_eq!(selected("strong.inviter"), ["Tester"]);
    assert_eq!(selected("strong.organisation"), ["Astrophysics Lab"]);
    assert_eq!(selected("span.role"), ["a manager"]);
    assert_eq!(selected("blockquote.personal-message"), [HOSTILE_MESSAGE]);
    assert!(selected("blockquote script").is_empty(), "{}", mail.html);
    assert!(selected("blockquote a").is_empty(), "{}", mail.html);
    assert!(mail.html.contains("&#60;script&#62;") || mail.html.contains("&lt;script&gt;"));
    assert!(!mail.html_links().iter().any(|l| l.contains("evil.example")));

    // The page the link opens says the same, with the message as plain text.
    let accept = app.new_browser().page(&link).await;
    assert_eq!(accept.status, 200);
    assert_eq!(accept.text(".invitation-summary .inviter"), "Tester");
    assert_eq!(
        accept.text(".invitation-summary .organisation"),
        "Astrophysics Lab"
    );
    assert_eq!(accept.text(".invitation-summary .role"), "a manager");
    let expires = accept.text(".invitation-summary .expires time.date");
    assert!(expires.ends_with("(in 7 days)"), "{expires}");
    assert!(
        accept
            .text(".invitation-summary")
            .starts_with("Tester invited you to join Astrophysics Lab as a manager."),
    );
    assert_eq!(
        accept.text(".personal-message figcaption"),
        "Message from Tester:"
    );
    assert_eq!(accept.text(".personal-message blockquote"), HOSTILE_MESSAGE);
    assert!(accept.select_all(".personal-message script").is_empty());
    assert!(accept.select_all(".personal-message a").is_empty());

    // Resending keeps the message.
    let list = owner.page(&format!("/orgs/{}/invitations", org.id)).await;
    let expires = list.text("tr.state-pending td.expires time.date");
    assert!(expires.ends_with("(in 7 days)"), "{expires}");
    let resend = list
        .attr("tr.state-pending form[action$='/resend']", "action")
        .unwrap();
    let resent = into_page(
        owner
            .post_form(&resend, &[("csrf_token", &list.csrf_token())])
            .await,
    )
    .await;
    let link = resent.attr("#invitation-link", "value").unwrap();
    let mail = app.mail_with_link(&link).await;
    assert!(
        mail.text.replace("\r\n", "\n").contains(HOSTILE_MESSAGE),
        "{}",
        mail.text
    );
    let accept = app.new_browser().page(&link).await;
    assert_eq!(accept.text(".personal-message blockquote"), HOSTILE_MESSAGE);
}

#[tokio::test]
async fn an_over_long_or_control_character_message_is_refused_beside_the_field() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    app.deliver_mail().await;
    let mails_before = app.smtp.messages().len();
    let too_long = "x".repeat(1_001);
    for (message, error) in [
        (
            too_long.as_str(),
            "Error: The message must be at most 1,000 characters; it has 1001. Shorten it by 1.",
        ),
        (
            "Ring the bell\u{7}",
            "Error: The message contains invisible control characters. Type it again, or paste it as plain text.",
        ),
    ] {
        let page = invite(
            &owner,
            &org.id,
            &[
                ("surname", "Curie"),
                ("email", "marie@example.org"),
                ("message", message),
            ],
        )
        .await;
        assert_eq!(page.status, 422);
        assert_eq!(page.text("#message-error"), error);
        assert_eq!(
            page.attr("#message", "aria-describedby").as_deref(),
            Some("message-hint message-error")
        );
        if message == too_long {
            assert_eq!(page.text("textarea#message"), too_long, "input kept");
        }
    }
    let invitations = app
        .context
        .store
        .invitations_of_organisation(&org.id)
        .await
        .unwrap();
    assert!(
        !invitations
            .iter()
            .any(|i| i.invitation.email == "marie@example.org")
    );
    app.deliver_mail().await;
    assert_eq!(app.smtp.messages().len(), mails_before);
}
