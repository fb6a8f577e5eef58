use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, location, start_instance};

#[tokio::test]
async fn sign_out_ends_the_session_for_good() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let cookies = app.browser.cookies();
    assert!(cookies.contains("roster="), "{cookies}");
    assert_eq!(
        app.browser.get_with_cookies("/", &cookies).await.status(),
        200
    );

    let token = app.browser.page("/").await.csrf_token();
    let response = app
        .browser
        .post_form("/sign-out", &[("csrf_token", &token)])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/sign-in?signed_out=1");
    let page = app.browser.page("/sign-in?signed_out=1").await;
    assert_eq!(page.text(".notice"), "You have signed out.");

    // A copy of the old cookie is worthless: the server forgot the session.
    let replay = app.browser.get_with_cookies("/", &cookies).await;
    assert_eq!(replay.status(), 303);
    assert_eq!(location(&replay), "/sign-in");
}

#[tokio::test]
async fn revoking_a_persons_sessions_signs_out_every_browser() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let laptop = app.new_browser();
    assert_eq!(
        laptop
            .sign_in("ada@example.org", GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(laptop.get("/").await.status(), 200);
    assert_eq!(app.browser.get("/").await.status(), 200);

    // What a password change or a lock does.
    let person_id = app.person_id("ada@example.org").await;
    let revoked = app
        .context
        .store
        .revoke_sessions_of(&person_id)
        .await
        .unwrap();
    assert_eq!(revoked, 2);

    for browser in [&app.browser, &laptop] {
        let response = browser.get("/").await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/sign-in");
    }
    // And a later request does not bring the sign-in back.
    assert_eq!(laptop.get("/").await.status(), 303);
}

#[tokio::test]
async fn the_session_key_changes_at_sign_in() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let browser = app.new_browser();
    browser.page("/sign-in").await;
    let before = browser.cookies();
    assert!(
        before.contains("roster="),
        "an anonymous session holds the form token"
    );
    assert_eq!(
        browser
            .sign_in("ada@example.org", GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    let after = browser.cookies();
    assert_ne!(before, after);
    // The pre-sign-in key (as an attacker who planted it would hold) is not signed in.
    assert_eq!(browser.get_with_cookies("/", &before).await.status(), 303);
    assert_eq!(browser.get_with_cookies("/", &after).await.status(), 200);
}

#[tokio::test]
async fn a_session_works_on_every_instance_sharing_the_database() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let (second_address, _) = start_instance(app.settings.clone()).await;
    assert_ne!(second_address, app.address);

    let cookies = app.browser.cookies();
    let second = Browser::new(&second_address);
    let response = second.get_with_cookies("/", &cookies).await;
    assert_eq!(response.status(), 200);

    // Signing out on one instance ends the session on the other.
    let token = app.browser.page("/").await.csrf_token();
    app.browser
        .post_form("/sign-out", &[("csrf_token", &token)])
        .await;
    assert_eq!(second.get_with_cookies("/", &cookies).await.status(), 303);
}

#[tokio::test]
async fn cookies_are_http_only_and_same_site() {
    let app = TestApp::spawn().await;
    let response = app.browser.get("/sign-in").await;
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("roster="))
        .expect("a session cookie is set")
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
}
