//! The newcomer's first visit: the link from the invitation mail, a password, a username
//! and shell (changing their mind once on the review step), an SSH key, and signing out.

use roster::domain::Role;

use crate::driver::{Chrome, NARROW, Options, WIDE};
use crate::support::app::{GOOD_PASSWORD, TestApp, invitation_link};

pub fn fixture_key(name: &str) -> String {
    let path = format!(
        "{}/tests/api/fixtures/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

async fn a_newcomer_activates_chooses_a_username_adds_a_key_and_signs_out(
    test: &str,
    width: u32,
    options: Options,
) {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    app.invite_to(&org, "grace@example.org", "Hopper", Role::Member)
        .await;
    let link = invitation_link(&app.mail_to("grace@example.org").await);
    let mut chrome = Chrome::start(test, &app.address, width, options).await;

    chrome.goto(&link).await;
    chrome.check_page("accept-invitation").await;
    chrome.fill("password", GOOD_PASSWORD).await;
    chrome.fill("password_confirmation", GOOD_PASSWORD).await;
    chrome.click_text("Activate my account").await;
    assert_eq!(chrome.path().await, "/account/setup");
    chrome.check_page("choose-username").await;

    chrome.fill("username", "9 bad name").await;
    chrome.click_text("Continue").await;
    chrome.assert_focus_on_error_summary().await;
    chrome.check_page("username-error").await;
    chrome.fill("username", "ghopper").await;
    chrome.select("login_shell", "/bin/zsh").await;
    chrome.click_text("Continue").await;
    chrome.check_page("review").await;
    assert_eq!(chrome.text("dd.shell").await, "/bin/zsh");

    // Going back keeps both choices.
    chrome.click_text("Change these").await;
    chrome.check_page("change-choices").await;
    let username = chrome.find("#username").await.prop("value").await.unwrap();
    assert_eq!(username.as_deref(), Some("ghopper"));
    let shell = chrome
        .find("#login_shell")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(shell.as_deref(), Some("/bin/zsh"));
    chrome.click_text("Continue").await;
    chrome.click_text("Create my account").await;
    // Ready, or queued for a moment when the directory is slow to answer.
    let landed = chrome.path().await;
    assert!(
        landed.starts_with("/?welcome=") || landed == "/",
        "after creating the account: {landed}\n{}",
        chrome.text("main").await
    );
    app.run_jobs().await;
    chrome.goto("/").await;
    chrome.check_page("home").await;

    chrome.click_text("Your SSH keys").await;
    chrome.check_page("keys-empty").await;
    chrome.fill("key", &fixture_key("ed25519.pub")).await;
    chrome.click_text("Add key").await;
    chrome.check_page("key-added").await;
    assert_eq!(
        chrome.texts("table.keys td.type").await,
        vec!["ssh-ed25519"]
    );
    app.run_jobs().await;

    chrome.click_text("Sign out").await;
    assert_eq!(chrome.path().await, "/sign-in?signed_out=1");
    chrome.check_page("signed-out").await;
    chrome.goto("/account/keys").await;
    assert!(
        chrome.path().await.starts_with("/sign-in"),
        "signed out for good"
    );
    chrome.finish().await;
}

#[tokio::test]
async fn a_newcomer_activates_chooses_a_username_adds_a_key_and_signs_out_at_1280() {
    a_newcomer_activates_chooses_a_username_adds_a_key_and_signs_out(
        "newcomer_1280",
        WIDE,
        Options::default(),
    )
    .await;
}

#[tokio::test]
async fn a_newcomer_activates_chooses_a_username_adds_a_key_and_signs_out_at_390() {
    a_newcomer_activates_chooses_a_username_adds_a_key_and_signs_out(
        "newcomer_390",
        NARROW,
        Options::default(),
    )
    .await;
}

/// The same journey with JavaScript switched off in Chromium: every step is a plain form.
#[tokio::test]
async fn a_newcomer_gets_through_without_javascript_at_390() {
    a_newcomer_activates_chooses_a_username_adds_a_key_and_signs_out(
        "newcomer_without_javascript_390",
        NARROW,
        Options { javascript: false },
    )
    .await;
}
