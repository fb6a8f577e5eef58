//! A destructive action asks first: removing an SSH key is cancelled once (the key stays),
//! then confirmed (the key goes).

use crate::driver::{Chrome, NARROW, Options, WIDE};
use crate::newcomer::fixture_key;
use crate::support::app::{GOOD_PASSWORD, TestApp};

async fn removing_a_key_is_cancelled_then_confirmed(test: &str, width: u32) {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    app.activated_member(&org, "ghopper").await;
    app.run_jobs().await;
    let mut chrome = Chrome::start(test, &app.address, width, Options::default()).await;

    chrome.goto("/sign-in").await;
    chrome.fill("login", "ghopper").await;
    chrome.fill("password", GOOD_PASSWORD).await;
    chrome.click_text("Sign in").await;
    chrome.goto("/account/keys").await;
    chrome.fill("key", &fixture_key("ed25519.pub")).await;
    chrome.click_text("Add key").await;
    chrome.check_page("keys").await;
    assert_eq!(
        chrome.texts("table.keys td.type").await,
        vec!["ssh-ed25519"]
    );

    let remove = "table.keys a[href$='/remove']";
    chrome.click(remove).await;
    chrome.check_page("confirm-removal").await;
    chrome.click_text("Cancel").await;
    assert_eq!(chrome.path().await, "/account/keys");
    assert_eq!(
        chrome.texts("table.keys td.type").await,
        vec!["ssh-ed25519"],
        "cancelling keeps the key"
    );

    chrome.click(remove).await;
    let yes = chrome
        .find("main form[method=post] button[type=submit]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        yes.starts_with("Yes"),
        "the button says what it does: {yes}"
    );
    chrome
        .click("main form[method=post] button[type=submit]")
        .await;
    chrome.check_page("key-removed").await;
    assert!(chrome.find_all("table.keys td.type").await.is_empty());
    chrome.finish().await;
}

#[tokio::test]
async fn removing_a_key_is_cancelled_then_confirmed_at_1280() {
    removing_a_key_is_cancelled_then_confirmed("confirmation_1280", WIDE).await;
}

#[tokio::test]
async fn removing_a_key_is_cancelled_then_confirmed_at_390() {
    removing_a_key_is_cancelled_then_confirmed("confirmation_390", NARROW).await;
}
