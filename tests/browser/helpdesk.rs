//! Helpdesk finds a newcomer by username and locks the account.

use roster::domain::Role;

use crate::driver::{Chrome, NARROW, Options, WIDE};
use crate::support::app::{GOOD_PASSWORD, TestApp};

async fn helpdesk_finds_and_locks_a_newcomer(test: &str, width: u32) {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    app.activated_member(&org, "ghopper").await;
    app.run_jobs().await;
    let link = app
        .invite_staff("desk@example.org", "Desk", Role::Helpdesk)
        .await;
    let mut chrome = Chrome::start(test, &app.address, width, Options::default()).await;

    chrome.goto(&link).await;
    chrome.fill("password", GOOD_PASSWORD).await;
    chrome.fill("password_confirmation", GOOD_PASSWORD).await;
    chrome.click_text("Activate my account").await;

    chrome.goto("/admin/accounts").await;
    chrome.check_page("accounts").await;
    chrome.fill("q", "ghopper").await;
    chrome.click_text("Search").await;
    chrome.check_page("search-results").await;
    assert_eq!(
        chrome.texts("table.accounts td.username").await,
        vec!["ghopper"]
    );
    chrome.click("table.accounts td.name a").await;
    chrome.check_page("account").await;

    chrome
        .fill("reason", "Laptop stolen, reported by phone")
        .await;
    chrome.click_text("Lock account").await;
    chrome.check_page("locked").await;
    assert!(
        !chrome
            .find_all("form[action$='/unlock'] button")
            .await
            .is_empty(),
        "the page now offers to unlock"
    );
    app.run_jobs().await;
    let entry = app
        .slapd
        .search_entry(&app.slapd.person_dn("ghopper"))
        .await
        .expect("the LDAP entry stays");
    assert_eq!(entry.attrs["loginShell"], vec!["/usr/sbin/nologin"]);
    chrome.finish().await;
}

#[tokio::test]
async fn helpdesk_finds_and_locks_a_newcomer_at_1280() {
    helpdesk_finds_and_locks_a_newcomer("helpdesk_1280", WIDE).await;
}

#[tokio::test]
async fn helpdesk_finds_and_locks_a_newcomer_at_390() {
    helpdesk_finds_and_locks_a_newcomer("helpdesk_390", NARROW).await;
}
