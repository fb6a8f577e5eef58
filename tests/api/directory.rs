//! Directory search from an organisation page, against the sample people in slapd.

use roster::domain::Role;

use crate::support::app::{TestApp, into_page, location};

fn search_path(org_id: &str, q: &str) -> String {
    let encoded: String = url_encode(q);
    format!("/orgs/{org_id}/directory?q={encoded}")
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn search_finds_people_by_any_name_part_ignoring_case() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;

    let page = owner.page(&search_path(&org.id, "SMITH")).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.select_all("table.directory td.uid"),
        vec!["esmith", "jsmith"]
    );
    assert_eq!(
        page.select_all("table.directory td.name"),
        vec!["Emma Smith", "John Smith"]
    );
    assert_eq!(page.text(".count"), "2 people match “SMITH”.");

    // Given name, email fragment, uid, and a non-ASCII surname.
    for (q, uid) in [
        ("Jonas", "jmueller"),
        ("anna.mueller@", "amueller"),
        ("aangstroem", "aangstroem"),
        ("ångström", "aangstroem"),
    ] {
        let page = owner.page(&search_path(&org.id, q)).await;
        assert_eq!(page.select_all("table.directory td.uid"), vec![uid], "{q}");
    }
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn hostile_search_text_never_widens_the_search_or_fails() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    // Each of these, escaped, is a literal that no sample person contains.
    for q in [
        "**",
        "*)(uid=*",
        "*)(|(objectClass=*",
        "\\\\",
        "\\2a",
        "smith)(uid=*",
        "((",
        "))",
    ] {
        let page = owner.page(&search_path(&org.id, q)).await;
        assert_eq!(page.status, 200, "{q}");
        assert!(
            page.select_all("table.directory tr").is_empty(),
            "{q} matched people"
        );
        assert_eq!(
            page.text(".count"),
            format!("Nobody in the directory matches “{q}”.")
        );
    }
    // One character, NUL and 10 kB: a clear 400 next to the search box.
    for (q, message) in [
        ("*".to_string(), "Type at least 2 characters to search."),
        ("\\".to_string(), "Type at least 2 characters to search."),
        (
            "a\u{0}b".to_string(),
            "Remove control characters from the search.",
        ),
        ("x".repeat(10_000), "Search for at most 100 characters."),
    ] {
        let page = owner.page(&search_path(&org.id, &q)).await;
        assert_eq!(page.status, 400);
        assert_eq!(page.text("#q-error"), format!("Error: {message}"));
    }
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn results_are_paged_and_capped_with_a_hint() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    // "example.org" is in every sample email: 50 people, 25 per page. The same from LDAP
    // (the people index not loaded yet) and from the index.
    let mut seen = Vec::new();
    for from_index in [false, true] {
        if from_index {
            roster::jobs::people_index::refresh(&app.context)
                .await
                .unwrap()
                .unwrap();
        }
        let first = owner.page(&search_path(&org.id, "example.org")).await;
        assert_eq!(first.select_all("table.directory tbody tr").len(), 25);
        assert_eq!(first.text(".pager span"), "Page 1 of 2");
        assert_eq!(
            first.select_all("p.index-not-loaded").is_empty(),
            from_index
        );
        let next = first
            .attr(".pager a[rel=next]", "href")
            .unwrap()
            .replace("&amp;", "&");
        let second = owner.page(&next).await;
        assert_eq!(second.select_all("table.directory tbody tr").len(), 25);
        // A page past the end shows the last one.
        let past = owner
            .page(&format!("{}&page=9", search_path(&org.id, "example.org")))
            .await;
        assert_eq!(past.select_all("td.uid"), second.select_all("td.uid"));
        let mut all = first.select_all("td.uid");
        all.extend(second.select_all("td.uid"));
        let in_order = all.clone();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 50, "no one is shown twice or skipped");
        seen.push(in_order);
    }
    assert_eq!(
        seen[0], seen[1],
        "the index answers as LDAP did, in the same order"
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn adding_a_found_person_links_their_entry_and_sets_member_uid() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    let page = owner.page(&search_path(&org.id, "smith")).await;
    let response = owner
        .post_form(
            &format!("/orgs/{}/members", org.id),
            &[
                ("csrf_token", &page.csrf_token()),
                ("uid", "jsmith"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        format!("/orgs/{}/members?done=added", org.id)
    );
    assert_eq!(
        owner.page(&location(&response)).await.text(".notice"),
        "John Smith was added to Astro as member."
    );
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["jsmith".to_string()])
    );

    // The search now marks them, and adding them again is a clear 409.
    let page = owner.page(&search_path(&org.id, "smith")).await;
    assert_eq!(page.select_all("td.membership")[1], "Already a member");
    // The same from the local people index, which tells members in the same statement.
    roster::jobs::people_index::refresh(&app.context)
        .await
        .unwrap()
        .unwrap();
    for q in ["smith", "jsmith", "sm"] {
        let page = owner.page(&search_path(&org.id, q)).await;
        assert!(page.select_all("p.index-not-loaded").is_empty());
        let rows: Vec<(String, String)> = page
            .select_all("td.uid")
            .into_iter()
            .zip(page.select_all("td.membership"))
            .collect();
        assert!(
            rows.iter()
                .all(|(uid, marker)| (uid == "jsmith") == (marker == "Already a member")),
            "q={q}: {rows:?}"
        );
        assert!(
            rows.iter().any(|(uid, _)| uid == "jsmith"),
            "q={q}: {rows:?}"
        );
    }
    let again = into_page(
        owner
            .post_form(
                &format!("/orgs/{}/members", org.id),
                &[("csrf_token", &page.csrf_token()), ("uid", "jsmith")],
            )
            .await,
    )
    .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.text(".error-message"),
        "This person is already a member of the organisation."
    );

    // Linked, not duplicated: one portal person for the entry, with its DN.
    let pool = app.database.pool().await;
    let (count, dn): (i64, String) =
        sqlx::query_as("SELECT COUNT(*), MAX(ldap_dn) FROM people WHERE username = 'jsmith'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(count, 1);
    assert_eq!(dn, "uid=jsmith,ou=people,dc=example,dc=org");
    // Unknown and hostile uids are refused without touching anything.
    for uid in ["nobody", "*", "jsmith)(uid=*"] {
        let response = owner
            .post_form(
                &format!("/orgs/{}/members", org.id),
                &[("csrf_token", &page.csrf_token()), ("uid", uid)],
            )
            .await;
        assert_eq!(response.status(), 404, "{uid}");
    }
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["jsmith".to_string()])
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn search_while_ldap_is_down_says_so_with_503() {
    let mut app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    app.slapd.stop();
    let page = owner.page(&search_path(&org.id, "smith")).await;
    assert_eq!(page.status, 503);
    assert_eq!(
        page.text("#q-error"),
        "Error: The directory is not answering right now, so nobody could be searched. Try again in a moment."
    );
    app.slapd.start_again();
    let page = owner.page(&search_path(&org.id, "smith")).await;
    assert_eq!(page.status, 200, "the shared connection recovers");
    app.assert_directory_settled().await;
}
