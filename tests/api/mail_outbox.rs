//! The mail outbox: mail waits while the mail server is down and arrives exactly once when
//! it is back, a refused mailbox is marked failed where the PI sees it, nothing queued for
//! one person is coalesced, and sending is paced site-wide across instances.

use std::collections::HashMap;

use roster::domain::Role;

use crate::support::app::{Browser, Page, TestApp, into_page, start_instance};

async fn invite(browser: &Browser, org_id: &str, surname: &str, email: &str) -> Page {
    let path = format!("/orgs/{org_id}/invitations");
    let fields = [("surname", surname), ("email", email), ("role", "member")];
    into_page(browser.submit(&path, &path, &fields).await).await
}

/// The delivery column of each invitation row, by email.
async fn deliveries(browser: &Browser, org_id: &str) -> HashMap<String, String> {
    let page = browser.page(&format!("/orgs/{org_id}/invitations")).await;
    let emails = page.select_all("table.invitations td.email");
    let states = page.select_all("table.invitations td.delivery");
    emails.into_iter().zip(states).collect()
}

fn count_to(app: &TestApp, address: &str) -> usize {
    app.smtp
        .messages()
        .iter()
        .filter(|mail| mail.is_to(address))
        .count()
}

#[tokio::test]
async fn mail_waits_while_the_server_is_down_and_arrives_exactly_once_when_it_is_back() {
    let mut app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    app.deliver_mail().await;
    let before = app.smtp.messages().len();

    app.smtp.stop();
    for (surname, email) in [
        ("Curie", "marie@example.org"),
        ("Noether", "emmy@example.org"),
    ] {
        let page = invite(&owner, &org.id, surname, email).await;
        assert_eq!(page.status, 200, "the page answers while mail is down");
        assert!(
            page.text(".fresh-link").contains("queued"),
            "{}",
            page.text(".fresh-link")
        );
    }
    // Two resends while down: three messages for one person, none coalesced or dropped.
    let invitation_id = app
        .context
        .store
        .invitations_of_organisation(&org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|listed| listed.invitation.email == "marie@example.org")
        .unwrap()
        .invitation
        .id;
    for _ in 0..2 {
        let path = format!("/orgs/{}/invitations/{invitation_id}/resend", org.id);
        let response = owner
            .submit(&format!("/orgs/{}/invitations", org.id), &path, &[])
            .await;
        assert_eq!(response.status(), 200);
    }
    app.deliver_mail().await;
    assert_eq!(app.smtp.messages().len(), before, "nothing could be sent");
    let shown = deliveries(&owner, &org.id).await;
    assert!(
        shown["marie@example.org"].starts_with("queued"),
        "{shown:?}"
    );

    app.smtp.restart();
    // Past every retry's backoff, but within the 90 s lease of a message being sent right
    // now: a larger jump would let a second sender take it over mid-send.
    app.context.clock.advance(60);
    app.deliver_mail().await;
    assert_eq!(
        count_to(&app, "marie@example.org"),
        3,
        "one invitation, two resends"
    );
    assert_eq!(count_to(&app, "emmy@example.org"), 1);
    // Later runs send nothing again.
    app.context.clock.advance(3600);
    app.deliver_mail().await;
    assert_eq!(app.smtp.messages().len(), before + 4);
    // Her mails arrived in the order they were made: only the last one's link works.
    let links: Vec<String> = app
        .smtp
        .messages()
        .iter()
        .filter(|mail| mail.is_to("marie@example.org"))
        .map(crate::support::app::invitation_link)
        .collect();
    let visitor = app.new_browser();
    for old in &links[..2] {
        assert_ne!(visitor.get(old).await.status(), 200, "a replaced link");
    }
    assert_eq!(visitor.get(&links[2]).await.status(), 200);
    let shown = deliveries(&owner, &org.id).await;
    assert_eq!(shown["marie@example.org"], "sent", "{shown:?}");
    assert_eq!(shown["emmy@example.org"], "sent", "{shown:?}");
}

#[tokio::test]
async fn a_refused_mailbox_is_marked_failed_with_the_reason_and_the_others_still_go() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let admin = app.new_browser();
    let link = app.invite_admin("root@example.org", "Root").await;
    admin
        .accept_invitation(&link, crate::support::app::GOOD_PASSWORD)
        .await;
    app.smtp.refuse("ghost@example.org");

    for (surname, email) in [
        ("Curie", "marie@example.org"),
        ("Ghost", "ghost@example.org"),
        ("Noether", "emmy@example.org"),
    ] {
        assert_eq!(invite(&owner, &org.id, surname, email).await.status, 200);
    }
    app.deliver_mail().await;
    assert_eq!(count_to(&app, "marie@example.org"), 1);
    assert_eq!(count_to(&app, "emmy@example.org"), 1);
    assert_eq!(count_to(&app, "ghost@example.org"), 0);

    let shown = deliveries(&owner, &org.id).await;
    assert!(
        shown["ghost@example.org"].starts_with("failed"),
        "{shown:?}"
    );
    assert!(
        shown["ghost@example.org"].contains("550"),
        "the server's answer is shown: {shown:?}"
    );
    assert_eq!(shown["marie@example.org"], "sent");

    // Never retried: a later run leaves it failed and sends nothing.
    app.context.clock.advance(3600);
    app.deliver_mail().await;
    assert_eq!(count_to(&app, "ghost@example.org"), 0);

    // Staff see it on the outbox page, with who caused it.
    let jobs = admin.page("/admin/jobs").await;
    assert_eq!(jobs.status, 200);
    let failed = jobs.select_all("table.mails tr.mail-failed td.mail-to");
    assert_eq!(
        failed,
        vec!["ghost@example.org"],
        "{}",
        jobs.text("table.mails")
    );
    assert!(jobs.text("table.mails tr.mail-failed").contains("550"));
}

#[tokio::test]
async fn sending_is_paced_site_wide_across_instances() {
    const RATE_PER_MINUTE: u32 = 600;
    const MAILS: usize = 12;
    let app = TestApp::spawn_with(|settings| settings.mail.rate_per_minute = RATE_PER_MINUTE).await;
    // A second instance on the same database, with its own mail worker.
    let (_second, _second_context) = start_instance(app.settings.clone()).await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    app.deliver_mail().await;
    let before = app.smtp.messages().len();
    for n in 0..MAILS {
        roster::usecases::invitations::create_invitation(
            &app.context,
            roster::usecases::invitations::InvitationRequest {
                email: roster::domain::Email::parse(&format!("person{n}@example.org")).unwrap(),
                surname: roster::domain::PersonName::parse("surname", "Person").unwrap(),
                given_name: None,
                role: Role::Member,
                organisation_id: Some(&org.id),
                organisation_name: Some(&org.name),
                inviter: roster::usecases::Actor::CommandLine,
                may_grant_manager: true,
                client_ip: None,
                ends_on: None,
                message: None,
            },
        )
        .await
        .unwrap();
    }
    let all = app
        .smtp
        .wait_for_messages(before + MAILS, std::time::Duration::from_secs(20))
        .await;
    assert_eq!(all.len(), before + MAILS);
    let times: Vec<f64> = app.smtp.arrival_times().into_iter().skip(before).collect();
    let span = times.last().unwrap() - times.first().unwrap();
    let interval = 60.0 / f64::from(RATE_PER_MINUTE);
    let least = interval * (MAILS - 1) as f64;
    assert!(
        span >= least * 0.95,
        "{MAILS} mails at {RATE_PER_MINUTE}/min took {span:.3} s; pacing needs at least {least:.3} s"
    );
    // And not much slower than the rate allows.
    assert!(span < least + 5.0, "{span:.3} s");
}

#[tokio::test]
async fn a_batch_whose_mail_server_stops_halfway_is_delivered_exactly_once_when_it_is_back() {
    const PEOPLE: usize = 30;
    // 200 ms between sends, so the server can be stopped between two of them.
    let mut app = TestApp::spawn_with(|settings| settings.mail.rate_per_minute = 300).await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let token = app.api_token(Some(&org), &["invitations.manage"]).await;
    app.deliver_mail().await;
    let before = app.smtp.messages().len();
    let people: Vec<serde_json::Value> = (0..PEOPLE)
        .map(|n| serde_json::json!({"surname": "Student", "email": format!("s{n}@example.org")}))
        .collect();
    let response = crate::support::api::api_request(
        &app.address,
        reqwest::Method::POST,
        "/api/v1/orgs/astro/invitations",
        &token,
        Some(&serde_json::json!({ "invitations": people })),
        &[],
    )
    .await;
    assert_eq!(
        response.status(),
        200,
        "the batch answers before its mail is sent"
    );

    // Some arrive; then the server stops, just after one send and well before the next.
    app.smtp
        .wait_for_messages(before + 5, std::time::Duration::from_secs(20))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    app.smtp.stop();
    let delivered_before_the_stop = app.smtp.messages().len() - before;
    assert!(delivered_before_the_stop < PEOPLE, "the stop came halfway");
    // The worker meets the stopped server and leaves the rest queued.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        app.smtp.messages().len() - before,
        delivered_before_the_stop
    );
    let queued = app.context.store.mail_counts().await.unwrap().queued;
    assert_eq!(
        usize::try_from(queued).unwrap(),
        PEOPLE - delivered_before_the_stop
    );

    app.smtp.restart();
    // Past every retry's backoff, but within the 90 s lease of a message being sent right
    // now: a larger jump would let a second sender take it over mid-send.
    app.context.clock.advance(60);
    app.deliver_mail().await;
    app.smtp
        .wait_for_messages(before + PEOPLE, std::time::Duration::from_secs(30))
        .await;
    app.context.clock.advance(3600);
    app.deliver_mail().await;
    for n in 0..PEOPLE {
        assert_eq!(count_to(&app, &format!("s{n}@example.org")), 1, "s{n}");
    }
    assert_eq!(app.smtp.messages().len(), before + PEOPLE);
}

#[tokio::test]
async fn a_reset_link_the_server_refuses_shows_as_failed_to_the_helpdesk_who_sent_it() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    app.activated_member(&org, "mcurie").await;
    let person = app.person_id("mcurie@example.org").await;
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    app.deliver_mail().await;
    app.smtp.refuse("mcurie@example.org");

    let account = format!("/admin/accounts/{person}");
    let sent = helpdesk
        .submit(&account, &format!("{account}/password-reset"), &[])
        .await;
    assert_eq!(sent.status(), 303);
    app.deliver_mail().await;

    let page = helpdesk.page(&account).await;
    let newest = "table.account-mail tbody tr:first-child";
    assert_eq!(page.text(&format!("{newest} td.mail-state")), "Failed");
    assert_eq!(
        page.text(&format!("{newest} td.mail-subject")),
        "Reset your Roster password"
    );
    assert!(
        page.text(&format!("{newest} td.mail-error"))
            .contains("550")
    );
    assert_eq!(page.text(&format!("{newest} td.mail-caused-by")), "Staff");
}
