use crate::support::app::{GOOD_PASSWORD, TestApp, into_page, location};
use roster::web::account::SIGN_IN_FAILED;

#[tokio::test]
async fn the_admin_signs_in_with_email_in_any_case() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let browser = app.new_browser();
    let response = browser.sign_in("ADA@Example.org", GOOD_PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let home = browser.page("/").await;
    assert_eq!(home.status, 200);
    assert_eq!(home.text("h1"), "Hello, Admin");
    assert_eq!(home.text(".signed-in-as strong"), "Admin");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn unknown_account_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;

    let browser = app.new_browser();
    let unknown = into_page(browser.sign_in("nobody@example.org", GOOD_PASSWORD).await).await;
    let wrong = into_page(browser.sign_in("ada@example.org", "not the password").await).await;
    let unknown_username = into_page(browser.sign_in("nobody", GOOD_PASSWORD).await).await;

    for page in [&unknown, &wrong, &unknown_username] {
        assert_eq!(page.status, 401);
        assert_eq!(page.text(".error-summary p"), SIGN_IN_FAILED);
    }
    // The typed name is kept so nothing has to be retyped; the password is not.
    assert_eq!(
        wrong.attr("input[name=login]", "value").as_deref(),
        Some("ada@example.org")
    );
    assert_eq!(wrong.attr("input[name=password]", "value"), None);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn bad_sign_in_input_gets_a_clear_4xx() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    let empty = into_page(browser.sign_in("", "x").await).await;
    assert_eq!(empty.status, 400);
    assert_eq!(
        empty.text(".error-summary p"),
        "Enter your email address or username."
    );
    for hostile in ["*)(uid=*", "admin\\", &"x".repeat(10_000), "a\u{0}b"] {
        let page = into_page(browser.sign_in(hostile, "x").await).await;
        assert!(
            page.status.is_client_error(),
            "{hostile:?}: {}",
            page.status
        );
    }
    // A form missing its fields is a 400 page, not a 500.
    let token = browser.page("/sign-in").await.csrf_token();
    let missing = into_page(
        browser
            .post_form("/sign-in", &[("csrf_token", &token)])
            .await,
    )
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.text("h1"), "Request not understood");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn repeated_failures_for_one_account_are_rate_limited() {
    let app = TestApp::spawn_with(|settings| {
        settings.security.signin_attempts_per_account_per_15_minutes = 3;
    })
    .await;
    app.signed_in_admin("ada@example.org").await;
    let browser = app.new_browser();
    for _ in 0..3 {
        let response = browser.sign_in("ada@example.org", "wrong password").await;
        assert_eq!(response.status(), 401);
    }
    // Now even the right password is refused, with a clear message and Retry-After.
    let limited = browser.sign_in("ada@example.org", GOOD_PASSWORD).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    let page = into_page(limited).await;
    let message = page.text(".error-summary p");
    assert!(
        message.starts_with("Too many sign-in attempts. Wait "),
        "{message}"
    );
    // Another account from the same address is not affected by that account's limit.
    let other = browser.sign_in("someone@example.org", "whatever").await;
    assert_eq!(other.status(), 401);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn repeated_attempts_from_one_address_are_rate_limited() {
    let app = TestApp::spawn_with(|settings| {
        settings.security.signin_attempts_per_ip_per_minute = 4;
    })
    .await;
    let browser = app.new_browser();
    let mut statuses = Vec::new();
    for n in 0..6 {
        let response = browser
            .sign_in(&format!("user{n}@example.org"), "whatever")
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 401, 401, 429, 429]);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_locked_account_cannot_sign_in() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let person_id = app.person_id("ada@example.org").await;
    let pool = app.database.pool().await;
    sqlx::query("UPDATE people SET status = 'locked' WHERE id = $1")
        .bind(&person_id)
        .execute(&pool)
        .await
        .unwrap();
    // The signed-in browser is out at its next request...
    let response = app.browser.get("/").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/sign-in");
    // ...and a new sign-in with the right password is refused with a clear reason.
    let page = into_page(
        app.new_browser()
            .sign_in("ada@example.org", GOOD_PASSWORD)
            .await,
    )
    .await;
    assert_eq!(page.status, 403);
    assert_eq!(
        page.text(".error-summary p"),
        "This account is locked. Contact the helpdesk to unlock it."
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_person_with_a_username_can_sign_in_with_it() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    let person_id = app.person_id("ada@example.org").await;
    let pool = app.database.pool().await;
    sqlx::query("UPDATE people SET username = 'ada' WHERE id = $1")
        .bind(&person_id)
        .execute(&pool)
        .await
        .unwrap();
    let browser = app.new_browser();
    assert_eq!(browser.sign_in("Ada", GOOD_PASSWORD).await.status(), 303);
    assert_eq!(browser.page("/").await.select_all(".facts dd")[1], "ada");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_flood_of_sign_ins_is_told_to_try_again_instead_of_waiting_ever_longer() {
    let app = TestApp::spawn_with(|settings| {
        settings.security.bcrypt_cost = 11;
        settings.security.bcrypt_parallelism = 1;
        settings.security.hash_queue_seconds = 1;
    })
    .await;
    let attempts = (0..16).map(|n| {
        let browser = app.new_browser();
        async move {
            let response = browser
                .sign_in(&format!("nobody{n}@example.org"), "wrong password here")
                .await;
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap().to_string());
            (into_page(response).await, retry_after)
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let mut busy = 0;
    for (page, retry_after) in &answers {
        match page.status.as_u16() {
            401 => {}
            503 => {
                busy += 1;
                assert_eq!(retry_after.as_deref(), Some("5"));
                assert_eq!(page.text("h1"), "Busy for a moment");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy > 0,
        "16 checks of about 0.15 s each on one thread, 1 s of queue"
    );
    assert!(busy < answers.len(), "the first ones were checked");
    app.assert_directory_settled().await;
}
