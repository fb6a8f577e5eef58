//! Membership end dates enforced by the lifecycle job: reminders to the member and the PI,
//! the ending (memberUid removed in LDAP, mails), and the grace-period lock (portal and
//! LDAP bind). The job runs here at chosen times instead of waiting for the clock.

use roster::context::now;
use roster::domain::Role;
use roster::usecases::lifecycle::{LifecycleReport, run_lifecycle};

use crate::members::member_page;
use crate::staff::mail_with_subject;
use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, into_page};

const DAY: i64 = 86_400;

pub fn iso_in(days: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(now() + days * DAY)
        .unwrap()
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The owner sets `username`'s end date in `org` through the member page.
pub async fn set_end_date(owner: &Browser, org_id: &str, username: &str, ends_on: &str) {
    let page = member_page(owner, org_id, username).await;
    let version = page
        .attr("form[action$='/end-date'] input[name=version]", "value")
        .unwrap();
    let response = owner
        .post_form(
            &page.attr("form[action$='/end-date']", "action").unwrap(),
            &[
                ("csrf_token", &page.csrf_token()),
                ("version", &version),
                ("ends_on", ends_on),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn memberships_are_reminded_ended_and_left_accounts_locked_after_the_grace_period() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let member = app.activated_member(&org, "ada").await;
    let ada_dn = app.slapd.person_dn("ada");
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["ada".into()])
    );

    // The PI sets an end date ten days ahead.
    let ends_on = iso_in(10);
    set_end_date(&owner, &org.id, "ada", &ends_on).await;

    // 14 days before: one reminder each to the member and the PI, never twice.
    let report = run_lifecycle(&app.context, now()).await.unwrap();
    assert_eq!(
        report,
        LifecycleReport {
            reminders: 1,
            ..LifecycleReport::default()
        }
    );
    let to_member = mail_with_subject(
        &app,
        "ada@example.org",
        &format!("Your membership of Astro ends on {ends_on}"),
    )
    .await;
    assert!(to_member.text.contains("change the end date"));
    mail_with_subject(
        &app,
        "pi@example.org",
        &format!("Person's membership of Astro ends on {ends_on}"),
    )
    .await;
    let mails = app.smtp.messages().len();
    let again = run_lifecycle(&app.context, now() + DAY).await.unwrap();
    assert_eq!(again, LifecycleReport::default());
    assert_eq!(app.smtp.messages().len(), mails);

    // The day after the end date: the membership ends and memberUid goes.
    let report = run_lifecycle(&app.context, now() + 11 * DAY).await.unwrap();
    assert_eq!(report.endings, 1);
    assert_eq!(report.locked, 0);
    assert_eq!(app.ldap_member_uids("astro").await, Some(vec![]));
    mail_with_subject(
        &app,
        "ada@example.org",
        "Your membership of Astro has ended",
    )
    .await;
    mail_with_subject(
        &app,
        "pi@example.org",
        "Person's membership of Astro has ended",
    )
    .await;
    let history = owner.page(&format!("/orgs/{}/history", org.id)).await;
    assert!(
        history
            .select_all("td")
            .iter()
            .any(|cell| cell.starts_with("Roster ended Person's membership (end date "))
    );
    // Within the grace period the account still works.
    assert!(app.slapd.can_bind(&ada_dn, GOOD_PASSWORD).await);
    let report = run_lifecycle(&app.context, now() + 30 * DAY).await.unwrap();
    assert_eq!(report, LifecycleReport::default());
    assert_eq!(member.get("/").await.status(), 200);

    // 30 days after the membership ended (first seen on day 11): locked, not deleted.
    let report = run_lifecycle(&app.context, now() + 42 * DAY).await.unwrap();
    assert_eq!(report.locked, 1, "only ada: the PI still has a membership");
    assert!(!app.slapd.can_bind(&ada_dn, GOOD_PASSWORD).await);
    assert!(app.slapd.search_entry(&ada_dn).await.is_some());
    let refused = into_page(app.new_browser().sign_in("ada", GOOD_PASSWORD).await).await;
    assert_eq!(refused.status, 403);
    assert!(member.get("/").await.status().is_redirection());
    let person = app
        .context
        .store
        .person_by_id(&app.person_id("ada@example.org").await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(person.lock_reason.as_deref(), Some("no membership left"));
    // The PI was never touched.
    assert_eq!(owner.get(&format!("/orgs/{}", org.id)).await.status(), 200);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_new_end_date_rearms_the_reminder_and_a_new_membership_stops_the_grace_period() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    app.activated_member(&org, "ada").await;
    let set_end = |ends_on: String| {
        let owner = &owner;
        let org_id = org.id.clone();
        async move { set_end_date(owner, &org_id, "ada", &ends_on).await }
    };
    set_end(iso_in(5)).await;
    assert_eq!(
        run_lifecycle(&app.context, now()).await.unwrap().reminders,
        1
    );
    // Extended, then shortened again: a new date gets its own reminder.
    set_end(iso_in(40)).await;
    assert_eq!(
        run_lifecycle(&app.context, now()).await.unwrap().reminders,
        0
    );
    set_end(iso_in(3)).await;
    assert_eq!(
        run_lifecycle(&app.context, now()).await.unwrap().reminders,
        1
    );

    // Ended; then the person joins another organisation within the grace period.
    assert_eq!(
        run_lifecycle(&app.context, now() + 4 * DAY)
            .await
            .unwrap()
            .endings,
        1
    );
    let bio = app.create_org("Bio", "bio").await;
    let bio_owner = app
        .browser_for(&bio, "bio-pi@example.org", Role::Owner)
        .await;
    let token = bio_owner
        .page(&format!("/orgs/{}/directory", bio.id))
        .await
        .csrf_token();
    let added = bio_owner
        .post_form(
            &format!("/orgs/{}/members", bio.id),
            &[("csrf_token", &token), ("uid", "ada")],
        )
        .await;
    assert_eq!(added.status(), 303);
    let report = run_lifecycle(&app.context, now() + 60 * DAY).await.unwrap();
    assert_eq!(
        report.locked, 0,
        "a current membership stops the grace period"
    );
    assert_eq!(app.ldap_member_uids("bio").await, Some(vec!["ada".into()]));
    app.assert_directory_settled().await;
}
