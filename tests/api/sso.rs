//! Single sign-on with a real OpenID provider (panva's oidc-provider on loopback): sign-in
//! of an existing account, an invitation accepted through SSO, unknown identities refused,
//! and a tampered state, a replayed code, a wrong audience, a refusal and an outage each
//! answered with a clear page, never a 500.

use roster::domain::{Email, Role};

use crate::support::app::{Browser, GOOD_PASSWORD, Page, TestApp, into_page, location};

/// Starts single sign-on from the sign-in page with `next`, goes through the provider and
/// returns the callback URL the provider sent the browser back to.
async fn sso_callback_url(browser: &Browser, next: &str) -> String {
    let page = browser.page("/sign-in").await;
    assert_eq!(
        page.text("form.sso button"),
        "Sign in with Test University login"
    );
    let start = browser
        .post_form(
            "/auth/oidc/start",
            &[("csrf_token", &page.csrf_token()), ("next", next)],
        )
        .await;
    assert_eq!(start.status(), 303);
    browser.through_provider(start).await
}

/// A whole SSO sign-in; returns the portal's answer to the callback.
async fn sso_sign_in(browser: &Browser, next: &str) -> reqwest::Response {
    let callback = sso_callback_url(browser, next).await;
    browser.get_url(&callback).await
}

/// Presses "Accept with …" on the invitation page at `path` and goes through the
/// provider; returns the callback URL the provider sent the browser back to.
async fn accept_with_sso(browser: &Browser, path: &str) -> String {
    let page = browser.page(path).await;
    assert_eq!(
        page.text("form.sso button"),
        "Accept with Test University login"
    );
    let token = page
        .attr("form.sso input[name=invitation]", "value")
        .unwrap();
    let start = browser
        .post_form(
            "/auth/oidc/start",
            &[("csrf_token", &page.csrf_token()), ("invitation", &token)],
        )
        .await;
    browser.through_provider(start).await
}

async fn error_page(response: reqwest::Response) -> Page {
    let page = into_page(response).await;
    assert!(
        page.status.is_client_error() || page.status == 503,
        "{}",
        page.status
    );
    page
}

#[tokio::test]
async fn an_existing_account_signs_in_and_stays_linked_when_the_provider_email_changes() {
    let app = TestApp::spawn_with_sso().await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "ada").await;
    let provider = app.provider();
    provider
        .next_sign_in("sub-ada", "ADA@example.org", true)
        .await;

    let browser = app.new_browser();
    browser.page("/sign-in").await;
    let anonymous_cookie = browser.cookies();
    let response = sso_sign_in(&browser, "/account/keys").await;
    assert_eq!(location(&response), "/account/keys");
    assert_ne!(
        browser.cookies(),
        anonymous_cookie,
        "the session was renewed"
    );
    let account = browser.page("/account").await;
    assert_eq!(account.text("dd.username"), "ada");
    assert_eq!(account.text("table.identities td.subject"), "sub-ada");
    assert_eq!(account.text("table.identities td.issuer"), provider.issuer);
    // Ada hears of the link, with where it came from and what to do if it was not her.
    let mail = crate::staff::mail_with_subject(
        &app,
        "ada@example.org",
        "A sign-in identity was linked to your Roster account",
    )
    .await;
    assert!(mail.text.contains(&provider.issuer), "{}", mail.text);
    assert!(mail.text.contains("127.0.0.1"), "{}", mail.text);

    // The provider now gives another email for the same subject: still Ada's account.
    provider
        .next_sign_in("sub-ada", "ada.renamed@elsewhere.example", true)
        .await;
    let again = app.new_browser();
    assert_eq!(location(&sso_sign_in(&again, "/").await), "/");
    assert_eq!(again.page("/account").await.text("dd.username"), "ada");
    // Another subject claiming Ada's email cannot take the account over.
    provider
        .next_sign_in("sub-mallory", "ada@example.org", true)
        .await;
    let page = error_page(sso_sign_in(&app.new_browser(), "/").await).await;
    assert_eq!(page.status, 403);
    assert!(page.text("main").contains("linked to another identity"));

    // Sessions work as with passwords: signing out ends it.
    let token = browser.page("/account").await.csrf_token();
    browser
        .post_form("/sign-out", &[("csrf_token", &token)])
        .await;
    assert!(location(&browser.get("/account").await).starts_with("/sign-in"));

    // With a password, a linked identity can be unlinked, after a confirmation that changes
    // nothing by itself; then it no longer signs in.
    let account = again.page("/account").await;
    let links = account.attr_all("table.identities a.button-link", "href");
    assert_eq!(links.len(), 1, "{links:?}");
    let page = again.page(&links[0]).await;
    let question = page.text("h1");
    assert!(
        question.starts_with("Unlink the identity sub-ada at ") && question.ends_with('?'),
        "{question}"
    );
    assert_eq!(
        page.attr_all("form.confirm-actions input[name=subject]", "value"),
        ["sub-ada"]
    );
    assert_eq!(page.attr_all("a.cancel", "href"), ["/account"]);
    assert_eq!(
        again
            .get("/account/identities/unlink?issuer=x&subject=sub-ada")
            .await
            .status(),
        404,
        "an identity not linked to this account"
    );
    let response = again
        .post_form(
            "/account/identities/unlink",
            &[
                ("csrf_token", &page.csrf_token()),
                ("issuer", &provider.issuer),
                ("subject", "sub-ada"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/account?done=unlinked");
    crate::staff::mail_with_subject(
        &app,
        "ada@example.org",
        "A sign-in identity was unlinked from your Roster account",
    )
    .await;
    assert!(
        again
            .page("/account")
            .await
            .select_all("table.identities")
            .is_empty()
    );
    provider
        .next_sign_in("sub-ada", "someone@elsewhere.example", true)
        .await;
    let page = error_page(sso_sign_in(&app.new_browser(), "/").await).await;
    assert_eq!(page.status, 403);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn unknown_and_unverified_identities_are_refused_and_no_account_is_made() {
    let app = TestApp::spawn_with_sso().await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "ada").await;
    let provider = app.provider();

    provider
        .next_sign_in("sub-stranger", "stranger@example.org", true)
        .await;
    let page = error_page(sso_sign_in(&app.new_browser(), "/").await).await;
    assert_eq!(page.status, 403);
    assert!(
        page.text("main")
            .contains("There is no account for the identity")
    );
    let stranger = Email::parse("stranger@example.org").unwrap();
    assert!(
        app.context
            .store
            .person_by_email(&stranger)
            .await
            .unwrap()
            .is_none()
    );

    // An email the provider did not verify matches nothing.
    provider
        .next_sign_in("sub-unverified", "ada@example.org", false)
        .await;
    let browser = app.new_browser();
    let page = error_page(sso_sign_in(&browser, "/").await).await;
    assert_eq!(page.status, 403);
    assert!(location(&browser.get("/").await).starts_with("/sign-in"));

    // A locked account does not get in with SSO either.
    provider
        .next_sign_in("sub-ada", "ada@example.org", true)
        .await;
    assert_eq!(location(&sso_sign_in(&app.new_browser(), "/").await), "/");
    let ada = app.person_id("ada@example.org").await;
    let receipt = app
        .context
        .store
        .lock_account(&ada, "test", Default::default(), roster::context::now())
        .await
        .unwrap();
    roster::jobs::apply(&app.context, receipt).await;
    let page = error_page(sso_sign_in(&app.new_browser(), "/").await).await;
    assert_eq!(page.status, 403);
    assert!(page.text("main").contains("locked"));
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn without_an_oidc_section_there_is_no_sso_button_and_no_sso_route() {
    let app = TestApp::spawn().await;
    let page = app.browser.page("/sign-in").await;
    assert!(page.select_all("form.sso").is_empty());
    let response = app
        .browser
        .post_form("/auth/oidc/start", &[("csrf_token", &page.csrf_token())])
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        app.browser
            .get("/auth/oidc/callback?code=a&state=b")
            .await
            .status(),
        404
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn an_invitation_is_accepted_through_sso_and_a_password_can_still_be_set_for_ldap() {
    let app = TestApp::spawn_with_sso().await;
    let org = app.create_org("Astro", "astro").await;
    let link = app
        .invite_to(&org, "newbie@example.org", "Newton", Role::Member)
        .await;
    let provider = app.provider();
    provider
        .next_sign_in("sub-newbie", "newbie@example.org", true)
        .await;

    let browser = app.new_browser();
    let path = link.trim_start_matches(&app.address).to_string();
    let callback = accept_with_sso(&browser, &path).await;
    let response = browser.get_url(&callback).await;
    assert_eq!(location(&response), "/");
    // Still to do: the POSIX username, exactly as after a password acceptance.
    assert_eq!(location(&browser.get("/").await), "/account/setup");
    let done = browser.set_up_account("newbie").await;
    assert_eq!(location(&done), "/?welcome=account");
    let dn = app.slapd.person_dn("newbie");
    let entry = app.slapd.search_entry(&dn).await.unwrap();
    assert!(!entry.attrs.contains_key("userPassword"), "no password yet");
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["newbie".to_string()])
    );
    // The link is used up.
    assert_eq!(browser.get(&path).await.status(), 410);

    // A password for the computers, without a current one to give.
    let account = browser.page("/account").await;
    assert!(account.select_all("#current_password").is_empty());
    assert_eq!(account.text("#password-title"), "Set a password");
    let unlink = browser
        .post_form(
            "/account/identities/unlink",
            &[
                ("csrf_token", &account.csrf_token()),
                ("issuer", &provider.issuer),
                ("subject", "sub-newbie"),
            ],
        )
        .await;
    assert_eq!(unlink.status(), 409, "no unlinking without a password");
    assert_eq!(
        browser
            .get(&format!(
                "/account/identities/unlink?issuer={}&subject=sub-newbie",
                provider.issuer
            ))
            .await
            .status(),
        409,
        "nor its confirmation"
    );
    let response = browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("password", GOOD_PASSWORD),
                ("password_confirmation", GOOD_PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&response), "/account?done=password");
    assert!(app.slapd.can_bind(&dn, GOOD_PASSWORD).await);
    assert_eq!(
        app.new_browser()
            .sign_in("newbie", GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn an_invitation_for_another_email_is_not_accepted_through_sso() {
    let app = TestApp::spawn_with_sso().await;
    let org = app.create_org("Astro", "astro").await;
    let link = app
        .invite_to(&org, "invited@example.org", "Invited", Role::Member)
        .await;
    app.provider()
        .next_sign_in("sub-other", "someone.else@example.org", true)
        .await;
    let browser = app.new_browser();
    let path = link.trim_start_matches(&app.address).to_string();
    let callback = accept_with_sso(&browser, &path).await;
    let page = error_page(browser.get_url(&callback).await).await;
    assert_eq!(page.status, 403);
    assert!(page.text("main").contains("sent to another email address"));
    // The invitation is still open for the right person.
    assert_eq!(browser.get(&path).await.status(), 200);
    // A made-up invitation is refused before anyone is sent to the provider.
    let page = browser.page(&path).await;
    let response = browser
        .post_form(
            "/auth/oidc/start",
            &[
                ("csrf_token", &page.csrf_token()),
                ("invitation", "made-up"),
            ],
        )
        .await;
    assert_eq!(response.status(), 404);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_tampered_state_a_replayed_code_a_wrong_audience_and_a_refusal_are_refused() {
    let app = TestApp::spawn_with_sso().await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "ada").await;
    let provider = app.provider();
    provider
        .next_sign_in("sub-ada", "ada@example.org", true)
        .await;

    // A tampered state: refused, and the attempt is over (the real state no longer works).
    let browser = app.new_browser();
    let callback = sso_callback_url(&browser, "/").await;
    let tampered = callback.replace("state=", "state=x");
    let page = error_page(browser.get_url(&tampered).await).await;
    assert_eq!(page.status, 400);
    assert!(
        page.text("main")
            .contains("does not belong to the sign-in you started")
    );
    let page = error_page(browser.get_url(&callback).await).await;
    assert_eq!(page.status, 400);
    assert!(location(&browser.get("/").await).starts_with("/sign-in"));

    // A code used once cannot sign in again: not in the same browser...
    let first = app.new_browser();
    let used = sso_callback_url(&first, "/").await;
    assert_eq!(first.get_url(&used).await.status(), 303);
    let page = error_page(first.get_url(&used).await).await;
    assert_eq!(page.status, 400);
    // ...nor in another one that started its own sign-in (the provider refuses the code).
    let second = app.new_browser();
    let own = sso_callback_url(&second, "/").await;
    let own_state = reqwest::Url::parse(&own)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let used_code = reqwest::Url::parse(&used)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let replay = format!(
        "{}/auth/oidc/callback?code={used_code}&state={own_state}",
        app.address
    );
    let page = error_page(second.get_url(&replay).await).await;
    assert_eq!(page.status, 400);
    assert!(page.text("main").contains("did not accept this sign-in"));
    assert!(location(&second.get("/").await).starts_with("/sign-in"));

    // An ID token for another audience, validly signed: refused.
    provider.id_token_audience(Some("someone-else")).await;
    let browser = app.new_browser();
    let page = error_page(sso_sign_in(&browser, "/").await).await;
    assert_eq!(page.status, 400);
    assert!(page.text("main").contains("could not be verified"));
    assert!(location(&browser.get("/").await).starts_with("/sign-in"));
    provider.id_token_audience(None).await;

    // The person refuses at the provider.
    provider.deny_next().await;
    let page = error_page(sso_sign_in(&app.new_browser(), "/").await).await;
    assert_eq!(page.status, 403);
    assert!(page.text("main").contains("was cancelled or refused"));

    // A callback nobody started.
    let page = error_page(
        app.new_browser()
            .get("/auth/oidc/callback?code=abc&state=def")
            .await,
    )
    .await;
    assert_eq!(page.status, 400);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn after_sign_in_only_local_paths_are_followed() {
    let app = TestApp::spawn_with_sso().await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "ada").await;
    app.provider()
        .next_sign_in("sub-ada", "ada@example.org", true)
        .await;
    for (next, expected) in [
        ("/account", "/account"),
        ("https://evil.example/steal", "/"),
        ("//evil.example/steal", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ] {
        let response = sso_sign_in(&app.new_browser(), next).await;
        assert_eq!(location(&response), expected, "next={next}");
    }
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_provider_that_is_down_gets_a_clear_page() {
    let mut app = TestApp::spawn_with_sso().await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "ada").await;
    app.provider()
        .next_sign_in("sub-ada", "ada@example.org", true)
        .await;
    // Down between the redirect back and the code exchange.
    let browser = app.new_browser();
    let callback = sso_callback_url(&browser, "/").await;
    app.oidc.as_mut().unwrap().stop();
    let page = error_page(browser.get_url(&callback).await).await;
    assert_eq!(page.status, 503);
    assert!(page.text("main").contains("cannot be reached right now"));

    // Down before the portal ever read its configuration.
    let mut cold = TestApp::spawn_with_sso().await;
    cold.oidc.as_mut().unwrap().stop();
    let browser = cold.new_browser();
    let page = browser.page("/sign-in").await;
    let response = browser
        .post_form(
            "/auth/oidc/start",
            &[("csrf_token", &page.csrf_token()), ("next", "/")],
        )
        .await;
    let page = error_page(response).await;
    assert_eq!(page.status, 503);
    // Passwords still work meanwhile.
    assert!(page.text("main").contains("Sign in with your password"));
    app.assert_directory_settled().await;
}
