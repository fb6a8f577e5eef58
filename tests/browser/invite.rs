//! A PI invites one newcomer with the form (after a failed first try) and two more with a
//! CSV file.

use roster::domain::Role;

use crate::driver::{Chrome, NARROW, Options, WIDE};
use crate::support::app::{GOOD_PASSWORD, TestApp};

async fn a_pi_invites_by_form_and_by_spreadsheet(test: &str, width: u32) {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let pi_link = app
        .invite_to(&org, "ada@example.org", "Lovelace", Role::Owner)
        .await;
    let mut chrome = Chrome::start(test, &app.address, width, Options::default()).await;

    chrome.goto(&pi_link).await;
    chrome.check_page("accept-invitation").await;
    chrome.fill("password", GOOD_PASSWORD).await;
    chrome.fill("password_confirmation", GOOD_PASSWORD).await;
    chrome.click_text("Activate my account").await;
    assert_eq!(chrome.path().await, "/account/setup");

    // From the header to the organisation's invitations.
    chrome.click_text("Organisations").await;
    chrome.check_page("organisations").await;
    chrome
        .click(&format!("main a[href='/orgs/{}']", org.id))
        .await;
    chrome.check_page("organisation").await;
    chrome
        .click(&format!("a[href='/orgs/{}/invitations']", org.id))
        .await;
    chrome.check_page("invitations-empty").await;

    // A first try without an email: the error summary takes the focus.
    chrome.fill("surname", "Hopper").await;
    chrome.click_text("Send invitation").await;
    chrome.assert_focus_on_error_summary().await;
    chrome.check_page("invite-error").await;
    chrome.fill("given_name", "Grace").await;
    chrome.fill("email", "grace@example.org").await;
    chrome.select("role", "member").await;
    chrome.click_text("Send invitation").await;
    chrome.check_page("invited").await;
    assert!(
        chrome
            .text(".notice.fresh-link")
            .await
            .contains("grace@example.org is invited"),
    );
    let mail = app.mail_to("grace@example.org").await;
    assert!(!mail.links().is_empty(), "the invitation mail has its link");

    // Two more from a spreadsheet: preview, confirm, then the batch's status.
    let sheet = tempfile::Builder::new()
        .suffix(".csv")
        .tempfile()
        .expect("a CSV file");
    std::fs::write(
        sheet.path(),
        "surname,given name,email,role,end date\n\
         Müller,Anna,anna.mueller.with.a.rather.long.address@physics.example.org,member,2027-09-30\n\
         O'Brien,Seán,sean.obrien@example.org,manager,\n",
    )
    .expect("write the CSV file");
    chrome
        .find("#sheet-file")
        .await
        .send_keys(&sheet.path().display().to_string())
        .await
        .expect("choose the file");
    chrome.click_text("Preview").await;
    chrome.check_page("batch-preview").await;
    chrome.click_text("Confirm and send").await;
    chrome.check_page("batch-status").await;
    app.run_jobs().await;
    app.deliver_mail().await;
    app.mail_to("sean.obrien@example.org").await;

    chrome.goto(&format!("/orgs/{}/invitations", org.id)).await;
    chrome.check_page("invitations").await;
    let emails = chrome.texts("table.invitations td.email").await;
    for email in [
        "grace@example.org",
        "sean.obrien@example.org",
        "anna.mueller.with.a.rather.long.address@physics.example.org",
    ] {
        assert!(emails.iter().any(|e| e == email), "{email} in {emails:?}");
    }
    chrome.finish().await;
}

#[tokio::test]
async fn a_pi_invites_by_form_and_by_spreadsheet_at_1280() {
    a_pi_invites_by_form_and_by_spreadsheet("invite_1280", WIDE).await;
}

#[tokio::test]
async fn a_pi_invites_by_form_and_by_spreadsheet_at_390() {
    a_pi_invites_by_form_and_by_spreadsheet("invite_390", NARROW).await;
}
