use crate::support::app::{GOOD_PASSWORD, TestApp, into_page};

#[tokio::test]
async fn a_post_without_a_csrf_token_is_refused_with_a_403_page() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let stranger = app.new_browser();
    // A fresh browser has a session from loading the form, but sends no token.
    stranger.page("/sign-in").await;
    let response = stranger
        .post_form(
            "/sign-in",
            &[("login", "ada@example.org"), ("password", GOOD_PASSWORD)],
        )
        .await;
    let page = into_page(response).await;
    assert_eq!(page.status, 403);
    assert_eq!(page.text("h1"), "Form expired");
    // And it did not sign in.
    assert_eq!(stranger.get("/").await.status(), 303);
}

#[tokio::test]
async fn a_post_with_a_wrong_or_foreign_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let link = app.invite_admin("ada@example.org", "Lovelace").await;

    let attacker = app.new_browser();
    let attacker_token = attacker.page("/sign-in").await.csrf_token();

    let victim = app.new_browser();
    victim.page(&link).await;
    for token in [attacker_token.as_str(), "forged", ""] {
        let response = victim
            .post_form(
                &link,
                &[
                    ("csrf_token", token),
                    ("password", GOOD_PASSWORD),
                    ("password_confirmation", GOOD_PASSWORD),
                ],
            )
            .await;
        assert_eq!(response.status(), 403, "token {token:?} was accepted");
    }
    // The invitation is untouched: it still opens.
    assert_eq!(victim.page(&link).await.status, 200);
}

#[tokio::test]
async fn sign_out_needs_the_token_too() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let response = app.browser.post_form("/sign-out", &[]).await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.browser.page("/").await.status, 200, "still signed in");
}

#[tokio::test]
async fn an_oversized_form_is_refused_with_413_before_it_is_read() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    let token = browser.page("/sign-in").await.csrf_token();
    let huge = "x".repeat(3 * 1024 * 1024);
    let page = into_page(
        browser
            .post_form(
                "/sign-in",
                &[("csrf_token", &token), ("login", &huge), ("password", "x")],
            )
            .await,
    )
    .await;
    assert_eq!(page.status, 413);
    assert_eq!(page.text("h1"), "Too large");
}
