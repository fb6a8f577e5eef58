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
    app.assert_directory_settled().await;
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
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn the_session_key_changes_at_sign_in() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let browser = app.new_browser();
    browser.page("/sign-in").await;
    let before = browser.cookies();
    assert!(
        before.contains("roster-csrf=") && !before.contains("roster="),
        "an anonymous visitor holds only the signed form-token cookie: {before}"
    );
    assert_eq!(
        browser
            .sign_in("ada@example.org", GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    let after = browser.cookies();
    assert!(after.contains("roster="), "{after}");
    // The pre-sign-in cookies (as an attacker who planted them would hold) are not signed in.
    assert_eq!(browser.get_with_cookies("/", &before).await.status(), 303);
    assert_eq!(browser.get_with_cookies("/", &after).await.status(), 200);
    app.assert_directory_settled().await;
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
    app.assert_directory_settled().await;
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

#[tokio::test]
async fn cookies_are_http_only_and_same_site() {
    let app = TestApp::spawn().await;
    let response = app.browser.get("/sign-in").await;
    assert_eq!(
        set_cookie(&response, "roster"),
        None,
        "no session before sign-in"
    );
    let form_cookie = set_cookie(&response, "roster-csrf").expect("a form-token cookie is set");
    let link = app.invite_admin("ada@example.org", "Lovelace").await;
    let signed_in = app.browser.accept_invitation(&link, GOOD_PASSWORD).await;
    let session_cookie = set_cookie(&signed_in, "roster").expect("a session cookie is set");
    for cookie in [form_cookie, session_cookie] {
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
    }
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn an_idle_session_ends_and_a_busy_one_still_ends_at_its_absolute_lifetime() {
    let app = TestApp::spawn_with(|settings| {
        settings.security.session_idle_minutes = 5;
        settings.security.session_hours = 1;
    })
    .await;
    app.signed_in_admin("ada@example.org").await;
    let clock = &app.context.clock;

    // Used every four minutes, the session lives on...
    for _ in 0..3 {
        clock.advance(4 * 60);
        assert_eq!(app.browser.get("/").await.status(), 200);
    }
    // ...until it is left alone for six.
    clock.advance(6 * 60);
    let response = app.browser.get("/").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/sign-in");

    // However busy, a session ends an hour after sign-in.
    let browser = app.new_browser();
    assert_eq!(
        browser
            .sign_in("ada@example.org", GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    for _ in 0..14 {
        clock.advance(4 * 60);
        assert_eq!(browser.get("/").await.status(), 200);
    }
    clock.advance(4 * 60 + 30);
    assert_eq!(location(&browser.get("/").await), "/sign-in");

    // Housekeeping removes the ended sessions' rows.
    roster::jobs::housekeeping(&app.context).await;
    assert_eq!(app.context.store.session_count().await.unwrap(), 0);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn anonymous_page_views_store_nothing_on_the_server() {
    use futures_util::StreamExt;

    let app = TestApp::spawn().await;
    let link = app.invite_admin("ada@example.org", "Lovelace").await;
    let before = app.context.store.session_count().await.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let pages = [
        "/sign-in".to_string(),
        "/password-reset".to_string(),
        "/".to_string(),
        "/account".to_string(),
        "/no-such-page".to_string(),
        link.clone(),
    ];
    // Each view from a new visitor without cookies, as a crawler or an attacker would come.
    let statuses: Vec<u16> = futures_util::stream::iter(0..10_000)
        .map(|n| {
            let client = client.clone();
            let url = if pages[n % pages.len()].starts_with("http") {
                pages[n % pages.len()].clone()
            } else {
                format!("{}{}", app.address, pages[n % pages.len()])
            };
            async move { client.get(url).send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|status| *status < 500));
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        5_000
    );
    assert_eq!(app.context.store.session_count().await.unwrap(), before);

    // The forms on those pages still work: sign-in with the cookie's token.
    let browser = app.new_browser();
    assert_eq!(
        browser
            .accept_invitation(&link, GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(app.context.store.session_count().await.unwrap(), before + 1);
    app.assert_directory_settled().await;
}
