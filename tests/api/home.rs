//! The home page for each audience, the header's places, and directory searches that
//! lead somewhere (an invitation when nobody matched, an honest count when capped).

use roster::domain::{EndDate, Role};

use crate::support::app::{TestApp, location};

fn in_days(app: &TestApp, days: i64) -> String {
    let date = app.context.clock.today() + time::Duration::days(days);
    EndDate::from_date(date).to_iso()
}

#[tokio::test]
async fn a_pi_sees_their_organisations_what_waits_there_and_what_is_left_to_do() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let pi = app.activated_with_role(&org, "pi", Role::Owner).await;
    let member = app.activated_member(&org, "homemember").await;
    app.create_resource(&org, "gpu", "cluster").await;
    app.invite_to(&org, "newcomer@example.org", "Newcomer", Role::Member)
        .await;

    // homemember's membership ends in 10 days.
    let members = app
        .context
        .store
        .members_page(&org.id, Some("homemember"), 1, 50, None)
        .await
        .unwrap();
    let homemember = &members.members[0];
    let token = pi.page("/").await.csrf_token();
    let ends_on = in_days(&app, 10);
    let changed = pi
        .post_form(
            &format!(
                "/orgs/{}/members/{}/end-date",
                org.id, homemember.membership_id
            ),
            &[
                ("csrf_token", &token),
                ("version", &homemember.version.to_string()),
                ("ends_on", &ends_on),
            ],
        )
        .await;
    assert_eq!(changed.status(), 303);

    let home = pi.page("/").await;
    assert_eq!(home.status, 200);
    assert!(
        home.select_all(".facts dt").iter().all(|dt| dt != "Roles"),
        "no empty site roles for a PI"
    );
    assert_eq!(home.select_all("li.organisation > a"), vec!["Astro"]);
    assert_eq!(home.text("li.organisation .role"), "Owner");
    assert_eq!(
        home.attr("li.organisation > a", "href").unwrap(),
        format!("/orgs/{}", org.id)
    );
    assert_eq!(home.text(".waiting-invitations .count"), "1");
    let waiting = home.text(".waiting-invitations li");
    assert!(
        waiting.contains("newcomer@example.org") && waiting.contains("expires"),
        "{waiting}"
    );
    assert_eq!(
        home.attr(".waiting-invitations a", "href").unwrap(),
        format!("/orgs/{}/invitations", org.id)
    );
    assert_eq!(home.text(".ending-soon .count"), "1");
    assert_eq!(home.select_all(".ending-soon li a"), vec!["Person"]);
    assert_eq!(
        home.attr(".ending-soon li a", "href").unwrap(),
        format!("/orgs/{}/members/{}", org.id, homemember.membership_id)
    );
    assert!(home.text(".ending-soon li").contains(&ends_on));
    assert_eq!(
        home.select_all("li.resource a"),
        vec!["Resource gpu"],
        "a PI may use the organisation's resources"
    );
    assert_eq!(
        home.select_all(".to-do-list a[href='/account/keys']"),
        vec!["Add an SSH key, to log in to the computers"]
    );
    assert!(home.select_all(".staff-links").is_empty());

    // The member sees the organisation, their end date and the resource, but nothing of
    // what a PI manages.
    let theirs = member.page("/").await;
    assert_eq!(theirs.text("li.organisation .role"), "Member");
    assert_eq!(
        theirs.text("li.organisation .ends-on"),
        format!("until {ends_on}")
    );
    assert!(theirs.select_all(".waiting-invitations").is_empty());
    assert!(theirs.select_all(".ending-soon").is_empty());
    assert_eq!(theirs.select_all("li.resource").len(), 1);

    // Once the end date has passed, it is no longer near.
    app.context.clock.advance(11 * 86_400);
    let later = pi.page("/").await;
    assert!(later.select_all(".ending-soon").is_empty());
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn someone_in_no_organisation_is_told_the_next_step_and_nothing_is_left_once_done() {
    let app = TestApp::spawn().await;
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let home = helpdesk.page("/").await;
    assert_eq!(
        home.text(".organisations .empty"),
        "You are not in any organisation yet. Ask your PI to invite you: the invitation comes by email."
    );
    assert!(home.select_all(".resources").is_empty());
    assert_eq!(
        home.select_all(".to-do-list a"),
        vec!["Choose your username and login shell"]
    );

    // A member who chose a username and added a key has nothing left to do.
    let org = app.create_org("Astro", "astro").await;
    let member = app.activated_member(&org, "homemember").await;
    let added = crate::keys::add_key(&member, &crate::keys::ed25519_key(7)).await;
    assert_eq!(location(&added), "/account/keys?done=added");
    let home = member.page("/").await;
    assert!(home.select_all(".to-do").is_empty(), "nothing left to do");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn staff_see_failed_jobs_and_accounts_pending_in_ldap_and_the_header_names_their_consoles() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let admin = &app.browser;
    let org = app.create_org("Astro", "astro").await;
    let pi = app.activated_with_role(&org, "pi", Role::Owner).await;
    let home = admin.page("/").await;
    assert_eq!(home.text(".failed-jobs"), "No outbox job has failed.");
    assert_eq!(
        home.text(".pending-ldap"),
        "No account waits for the directory."
    );

    // A directory job for the PI's account failed for good.
    let person = app.person_id("pi@example.org").await;
    let pool = app.database.pool().await;
    sqlx::query(
        "INSERT INTO jobs (id, target, kind, subject_id, status, attempts, next_attempt_at, \
         created_at, updated_at, last_error) \
         VALUES ('failed-job', '', 'sync_account', $1, 'failed', 5, 0, 0, 0, 'LDAP said no')",
    )
    .bind(&person)
    .execute(&pool)
    .await
    .unwrap();
    let home = admin.page("/").await;
    assert_eq!(home.text(".failed-jobs .count"), "1");
    assert_eq!(home.attr(".failed-jobs a", "href").unwrap(), "/admin/jobs");
    assert_eq!(home.text(".pending-ldap .count"), "1");
    let filtered = home.attr(".pending-ldap a", "href").unwrap();
    assert_eq!(filtered, "/admin/accounts?status=pending-ldap");
    let list = admin.page(&filtered).await;
    assert_eq!(list.select_all("td.username"), vec!["pi"]);

    // The header names every console, and marks the page shown.
    let jobs = admin.page("/admin/jobs").await;
    assert_eq!(
        jobs.select_all(".site-nav a"),
        vec![
            "Home",
            "Organisations",
            "Your account",
            "SSH keys",
            "Accounts",
            "Staff roles",
            "Outbox",
            "LDAP drift",
            "API clients"
        ]
    );
    assert_eq!(
        jobs.select_all(".site-nav a[aria-current=page]"),
        vec!["Outbox"]
    );
    let account = admin.page(&format!("/admin/accounts/{person}")).await;
    assert_eq!(
        account.select_all(".site-nav a[aria-current=page]"),
        vec!["Accounts"]
    );
    // Helpdesk sees only what it may open; a PI no console at all.
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let theirs = helpdesk.page("/").await;
    assert!(
        theirs
            .select_all(".site-nav a")
            .contains(&"Accounts".to_string())
    );
    assert!(
        !theirs
            .select_all(".site-nav a")
            .contains(&"Staff roles".to_string())
    );
    assert!(theirs.select_all(".failed-jobs").is_empty());
    assert_eq!(theirs.text(".pending-ldap .count"), "1");
    let pi_home = pi.page("/").await;
    assert_eq!(
        pi_home.select_all(".site-nav a"),
        vec!["Home", "Organisations", "Your account", "SSH keys"]
    );
    assert_eq!(
        pi_home.select_all(".site-nav a[aria-current=page]"),
        vec!["Home"]
    );
    sqlx::query("DELETE FROM jobs WHERE id = 'failed-job'")
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_empty_directory_search_offers_to_invite_with_the_search_filled_in() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;

    let page = owner
        .page(&format!("/orgs/{}/directory?q=Zyxwvut", org.id))
        .await;
    assert_eq!(
        page.text(".count"),
        "Nobody in the directory matches “Zyxwvut”."
    );
    assert_eq!(page.text(".invite-offer a"), "Invite “Zyxwvut” by email");
    let href = page.attr(".invite-offer a", "href").unwrap();
    assert_eq!(
        href,
        format!("/orgs/{}/invitations?surname=Zyxwvut#surname", org.id)
    );
    let form = owner.page(&href).await;
    assert_eq!(form.attr("input#surname", "value").unwrap(), "Zyxwvut");
    assert_eq!(form.attr("input#email", "value").unwrap(), "");

    // An email address goes into the email field.
    let page = owner
        .page(&format!(
            "/orgs/{}/directory?q=new.person%40uni.example",
            org.id
        ))
        .await;
    let href = page.attr(".invite-offer a", "href").unwrap();
    let form = owner.page(&href).await;
    assert_eq!(
        form.attr("input#email", "value").unwrap(),
        "new.person@uni.example"
    );

    // A search with results offers nothing; nor does one by someone who may not invite.
    let found = owner
        .page(&format!("/orgs/{}/directory?q=example.org", org.id))
        .await;
    assert!(found.select_all(".invite-offer").is_empty());
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let theirs = helpdesk
        .page(&format!("/orgs/{}/directory?q=Zyxwvut", org.id))
        .await;
    assert_eq!(theirs.status, 200);
    assert!(theirs.select_all(".invite-offer").is_empty());
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_capped_directory_search_never_claims_only_500_match() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    let people: Vec<roster::store::people_index::IndexedPerson> = (0..600)
        .map(|n| roster::store::people_index::IndexedPerson {
            dn: format!("uid=bulk{n},ou=people,dc=example,dc=org"),
            uid: format!("bulk{n}"),
            surname: format!("Bulkperson{n}"),
            given_name: None,
            mail: Some(format!("bulk{n}@example.org")),
            modified: String::new(),
        })
        .collect();
    app.context.store.upsert_index(&people, 1).await.unwrap();
    app.context
        .store
        .finish_index_refresh(app.context.clock.now(), Some(1), "")
        .await
        .unwrap();
    let page = owner
        .page(&format!("/orgs/{}/directory?q=bulkperson", org.id))
        .await;
    assert_eq!(
        page.text(".count"),
        "More than 500 people match “bulkperson”; refine your search. Only the first 500 are shown."
    );
    // Under the cap, the count is the truth.
    let page = owner
        .page(&format!("/orgs/{}/directory?q=bulkperson59", org.id))
        .await;
    assert_eq!(page.text(".count"), "11 people match “bulkperson59”.");
}

#[tokio::test]
async fn an_empty_organisation_says_what_to_do_next_and_links_there() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let org = app.create_org("Astro", "astro").await;
    let members = app.browser.page(&format!("/orgs/{}/members", org.id)).await;
    assert_eq!(
        members.text("p.empty"),
        "This organisation has no members yet. Invite people to join it."
    );
    assert_eq!(
        members.attr("p.empty a", "href").unwrap(),
        format!("/orgs/{}/invitations", org.id)
    );
    let searched = app
        .browser
        .page(&format!("/orgs/{}/members?q=Lovelace", org.id))
        .await;
    assert_eq!(
        searched.attr("p.empty a", "href").unwrap(),
        format!("/orgs/{}/directory?q=Lovelace", org.id)
    );
    let invitations = app
        .browser
        .page(&format!("/orgs/{}/invitations", org.id))
        .await;
    assert_eq!(
        invitations.text("p.empty"),
        "No invitations yet. Invite someone with the form above: they get an email with a link to join."
    );
    let resources = app
        .browser
        .page(&format!("/orgs/{}/resources", org.id))
        .await;
    assert_eq!(
        resources.text("p.empty"),
        "This organisation has no resources yet. Add one with the form below: its members can then use it."
    );
    app.assert_directory_settled().await;
}
