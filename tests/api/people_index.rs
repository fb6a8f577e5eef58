//! The local people index (issue 16): loaded from slapd by paged searches, kept in step
//! by modifyTimestamp and full passes (moved by the test clock), searched instead of LDAP
//! with folded keys, and answering while LDAP is down.

use ldap3::Mod;
use roster::domain::{DIRECTORY_SEARCH_LIMIT, Role, SearchText};
use roster::jobs::people_index::{FULL_PASS_SECONDS, refresh};
use roster::store::organisations::Organisation;
use roster::usecases::people_search::{Source, search_people};

use crate::support::app::{Browser, Page, TestApp, into_page, start_instance};

fn text(q: &str) -> SearchText {
    SearchText::parse_directory_query(q).unwrap().unwrap()
}

/// The uids the people search answers with, and where from.
async fn found(app: &TestApp, q: &str) -> (Vec<String>, bool, Source) {
    let results = search_people(&app.context, &text(q), DIRECTORY_SEARCH_LIMIT)
        .await
        .unwrap();
    let uids = results
        .people
        .into_iter()
        .map(|person| person.uid)
        .collect();
    (uids, results.truncated, results.source)
}

/// The uids an LDAP search answers with.
async fn in_ldap(app: &TestApp, q: &str) -> (Vec<String>, bool) {
    let results = app
        .context
        .directory
        .search_people(&text(q), DIRECTORY_SEARCH_LIMIT)
        .await
        .unwrap();
    let uids = results
        .people
        .into_iter()
        .map(|person| person.uid)
        .collect();
    (uids, results.truncated)
}

async fn add_person(app: &TestApp, uid: &str, surname: &str, given: &str) {
    let mut ldap = app.slapd.admin_conn().await;
    let mail = format!("{uid}@example.org");
    let result = ldap
        .add(
            &app.slapd.person_dn(uid),
            vec![
                ("objectClass", ["inetOrgPerson"].into_iter().collect()),
                ("uid", [uid].into_iter().collect()),
                ("cn", [uid].into_iter().collect()),
                ("sn", [surname].into_iter().collect()),
                ("givenName", [given].into_iter().collect()),
                ("mail", [mail.as_str()].into_iter().collect()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(result.rc, 0, "{result:?}");
}

/// Changes a person's surname directly in LDAP.
async fn rename(app: &TestApp, uid: &str, surname: &str) {
    let mut ldap = app.slapd.admin_conn().await;
    let result = ldap
        .modify(
            &app.slapd.person_dn(uid),
            vec![Mod::Replace("sn", [surname].into_iter().collect())],
        )
        .await
        .unwrap();
    assert_eq!(result.rc, 0, "{result:?}");
}

#[tokio::test]
async fn the_index_loads_and_answers_exactly_as_an_ldap_search() {
    let app = TestApp::spawn().await;
    // Never loaded: LDAP answers, and says so.
    assert_eq!(found(&app, "smith").await.2, Source::Directory);
    let report = refresh(&app.context).await.unwrap().unwrap();
    assert!(report.full && report.read >= 50, "{report:?}");
    for q in [
        "smith",
        "sm",
        "an",
        "ada",
        "example.org",
        "jsm",
        "er",
        "son",
        "ki",
        "ZZZ",
        "Smith",
        "@example",
        "mehmet",
        "e",
    ] {
        if q.chars().count() < 2 {
            continue;
        }
        let (index, truncated, source) = found(&app, q).await;
        assert_eq!(source, Source::Index);
        let (ldap, ldap_truncated) = in_ldap(&app, q).await;
        if q.chars().count() >= 3 {
            assert_eq!(index, ldap, "the same people in the same order for {q:?}");
            assert_eq!(truncated, ldap_truncated);
        } else {
            // Fewer than 3 characters match the start of a name, mail or uid only.
            assert!(
                index.iter().all(|uid| ldap.contains(uid)),
                "{q:?}: {index:?}"
            );
        }
    }
    // The API and the page answer from the index too.
    let token = app.api_token(None, &["directory.search"]).await;
    let response = app.api_get("/api/v1/people?q=smith", &token).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["source"], "index");
    // /readyz reports the index's age, by the portal's clock.
    app.context.clock.advance(30);
    let ready: serde_json::Value = app.browser.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["people_index"]["loaded"], true);
    let age = ready["people_index"]["age_seconds"].as_i64().unwrap();
    assert!((30..=35).contains(&age), "{ready}");
}

#[tokio::test]
async fn ldap_changes_show_after_one_refresh_and_deletions_after_a_full_pass() {
    let app = TestApp::spawn().await;
    refresh(&app.context).await.unwrap().unwrap();
    add_person(&app, "nnewcomer", "Newcomer", "Nora").await;
    app.context.clock.advance(61);
    let report = refresh(&app.context).await.unwrap().unwrap();
    assert!(!report.full, "incremental: {report:?}");
    // (Entries stamped in the same second as the newest one seen are read again, so a
    // change in that second is never missed; the fixture was loaded seconds ago.)
    assert_eq!(found(&app, "newcomer").await.0, ["nnewcomer"]);

    // A change of name.
    rename(&app, "nnewcomer", "Renamed").await;
    app.context.clock.advance(61);
    refresh(&app.context).await.unwrap().unwrap();
    assert_eq!(found(&app, "renamed").await.0, ["nnewcomer"]);
    let renamed = search_people(&app.context, &text("nnewcomer"), DIRECTORY_SEARCH_LIMIT)
        .await
        .unwrap();
    assert_eq!(renamed.people[0].surname, "Renamed");

    // A deletion is found by the next full pass.
    let mut ldap = app.slapd.admin_conn().await;
    let deleted = ldap
        .delete(&app.slapd.person_dn("nnewcomer"))
        .await
        .unwrap();
    assert_eq!(deleted.rc, 0);
    app.context.clock.advance(FULL_PASS_SECONDS);
    let report = refresh(&app.context).await.unwrap().unwrap();
    assert!(report.full && report.removed == 1, "{report:?}");
    assert!(found(&app, "renamed").await.0.is_empty());

    // Only one instance refreshes at a time: while one holds the refresh, another
    // instance's attempt does nothing; once the holder's lease ran out (it died), it may.
    let (_, second) = crate::support::app::start_instance(app.settings.clone()).await;
    let now = app.context.clock.now();
    assert!(
        app.context
            .store
            .claim_index_refresh(now, 120)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(refresh(&second).await.unwrap(), None);
    second
        .clock
        .advance(app.context.clock.now() - second.clock.now() + 121);
    assert!(refresh(&second).await.unwrap().is_some());
}

#[tokio::test]
async fn searches_ignore_accents_apostrophes_and_hyphens() {
    let app = TestApp::spawn().await;
    add_person(&app, "tmuller", "Muller", "Tom").await;
    add_person(&app, "rnunez", "Nuñez", "Rosa").await;
    add_person(&app, "cosullivan", "O'Sullivan", "Ciara").await;
    add_person(&app, "zdupont", "Dupont-Laval", "Zoë").await;
    refresh(&app.context).await.unwrap().unwrap();
    let muller = found(&app, "Muller").await.0;
    // The fixture's two Müllers and the new Muller.
    assert!(
        muller.contains(&"tmuller".to_string()) && muller.len() >= 3,
        "{muller:?}"
    );
    assert_eq!(
        found(&app, "Müller").await.0,
        muller,
        "Müller finds Muller too"
    );
    assert_eq!(found(&app, "nunez").await.0, ["rnunez"]);
    assert_eq!(found(&app, "osullivan").await.0, ["cosullivan"]);
    assert_eq!(found(&app, "o'sullivan").await.0, ["cosullivan"]);
    assert!(found(&app, "zoe").await.0.contains(&"zdupont".to_string()));
    assert_eq!(found(&app, "dupontlaval").await.0, ["zdupont"]);
}

#[tokio::test]
async fn with_ldap_stopped_the_search_answers_and_adding_says_ldap_is_unavailable() {
    let mut app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    refresh(&app.context).await.unwrap().unwrap();
    app.slapd.stop();
    let page = owner
        .page(&format!("/orgs/{}/directory?q=smith", org.id))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.select_all("table.directory td.uid")
            .contains(&"jsmith".to_string())
    );
    // Adding reads LDAP to confirm the person: a stale copy never adds someone who left.
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
    let refused = into_page(response).await;
    assert_eq!(refused.status, 503, "{}", refused.text("main"));
    assert!(
        refused.text("main").contains("directory"),
        "{}",
        refused.text("main")
    );
    app.slapd.start_again();
}

#[tokio::test]
async fn a_three_character_search_uses_the_trigram_index() {
    let app = TestApp::spawn().await;
    // Enough people that a scan would cost; the planner's statistics are fresh.
    let people: Vec<roster::store::people_index::IndexedPerson> = (0..5000)
        .map(|n| roster::store::people_index::IndexedPerson {
            dn: format!("uid=bulk{n},ou=people,dc=example,dc=org"),
            uid: format!("bulk{n}"),
            surname: format!("Surname{n}"),
            given_name: Some(format!("Given{n}")),
            mail: Some(format!("bulk{n}@example.org")),
            modified: String::new(),
        })
        .collect();
    app.context.store.upsert_index(&people, 1).await.unwrap();
    // The end of the first full pass: the index counts as loaded, its rows numbered.
    app.context
        .store
        .finish_index_refresh(app.context.clock.now(), Some(1), "")
        .await
        .unwrap();
    // A common fragment (5,000 matches, past the 500 cap) pages in sort order.
    let store = &app.context.store;
    let first = store
        .search_index("surname", 500, (0, 25), None)
        .await
        .unwrap();
    assert_eq!((first.total, first.truncated), (500, true));
    let first = first.people;
    assert_eq!(first.len(), 25);
    let uids: Vec<&str> = first.iter().take(4).map(|p| p.uid.as_str()).collect();
    assert_eq!(uids, ["bulk0", "bulk1", "bulk10", "bulk100"]);
    let last = store
        .search_index("surname", 500, (475, 25), None)
        .await
        .unwrap()
        .people;
    let all = store
        .search_index("surname", 500, (0, 500), None)
        .await
        .unwrap()
        .people;
    assert_eq!(all.len(), 500);
    assert_eq!(
        last,
        all[475..].to_vec(),
        "the last page is the end of the first 500"
    );
    let pool = app.database.pool().await;
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    let plan = app.context.store.explain_index_search("smi").await.unwrap();
    if app.settings.database.url.expose().starts_with("sqlite") {
        // The trigram index finds the matches; each shown row is looked up by its number.
        assert!(plan.contains("VIRTUAL TABLE INDEX"), "{plan}");
        assert!(
            plan.contains("SEARCH d USING INDEX directory_index_rank"),
            "{plan}"
        );
        let scans_rows = |line: &str| line == "SCAN d" || line.starts_with("SCAN d USING");
        assert!(!plan.lines().any(|line| scans_rows(line.trim())), "{plan}");
    } else {
        assert!(
            plan.contains("Bitmap Index Scan on directory_index_keys"),
            "{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}

#[tokio::test]
async fn the_member_list_and_the_staff_search_ignore_accents_too() {
    let app = TestApp::spawn().await;
    // The fixture's two Müllers.
    let (org, owner) = organisation_with_members(&app, &["amueller", "jmueller"]).await;
    for q in ["muller", "M%C3%BCller", "MULLER"] {
        let list = owner.page(&format!("/orgs/{}/members?q={q}", org.id)).await;
        assert_eq!(
            list.select_all("table.members td.username"),
            ["amueller", "jmueller"],
            "member list, q={q}"
        );
    }
    let admin = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let accounts = admin.page("/admin/accounts?q=muller").await;
    assert_eq!(
        accounts.select_all("table.accounts td.username"),
        ["amueller", "jmueller"]
    );
    // Keys stored before folding (an upgraded site) are rewritten at start-up.
    let pool = app.database.pool().await;
    sqlx::query("UPDATE people SET search_text = 'müller anna amueller@example.org amueller' WHERE username = 'amueller'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(app.context.store.refold_search_keys().await.unwrap(), 1);
    let accounts = admin.page("/admin/accounts?q=muller").await;
    assert_eq!(
        accounts.select_all("table.accounts td.username"),
        ["amueller", "jmueller"]
    );
}

#[tokio::test]
async fn a_large_organisation_searches_its_member_list_through_the_trigram_index() {
    // Every organisation counts as large here; a second instance with the default limit
    // reads the same member lists through. Both must list the same members in order.
    let app = TestApp::spawn_with(|settings| settings.database.member_scan_limit = 0).await;
    let uids = [
        "amueller", "jmueller", "zbronte", "jgarcia", "hdubois", "sobrien", "wchen", "lwang",
    ];
    let (org, owner) = organisation_with_members(&app, &uids).await;
    let mut defaults = app.settings.clone();
    defaults.database.member_scan_limit =
        roster::config::DatabaseSettings::default().member_scan_limit;
    let (address, _) = start_instance(defaults).await;
    let reader = Browser {
        base: address,
        client: owner.client.clone(),
        jar: owner.jar.clone(),
    };
    let members = |q: &str| format!("/orgs/{}/members?q={q}", org.id);
    let listed = |page: Page| page.select_all("table.members td.username");
    let everyone = listed(owner.page(&members("example")).await);
    assert_eq!(everyone.len(), uids.len() + 1, "{everyone:?}");
    for q in [
        "example",
        "muller",
        "M%C3%BCller",
        "mue",
        "wang",
        "an",
        "zzz",
    ] {
        let indexed = listed(owner.page(&members(q)).await);
        let read_through = listed(reader.page(&members(q)).await);
        assert_eq!(indexed, read_through, "q={q}");
    }
    assert_eq!(
        listed(owner.page(&members("muller")).await),
        ["amueller", "jmueller"]
    );
    let plan = app
        .context
        .store
        .explain_member_search(&org.id, "mul")
        .await
        .unwrap();
    if app.settings.database.url.expose().starts_with("sqlite") {
        // The index is read first, then each match's person and membership by key.
        assert!(
            plan.contains("SCAN people_keys VIRTUAL TABLE INDEX"),
            "{plan}"
        );
        assert!(plan.contains("SEARCH m USING"), "{plan}");
        assert!(
            !plan.lines().any(|line| line.trim().starts_with("SCAN m")),
            "{plan}"
        );
    } else {
        // PostgreSQL weighs its trigram index against the organisation's rows by cost (a
        // test organisation is small); either way it reads no table through.
        let indexed = ["memberships_search_trgm", "memberships_organisation_sort"];
        assert!(indexed.iter().any(|index| plan.contains(index)), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}

/// Organisation "astro" with its owner signed in, and the fixture's people `uids` added
/// as members from the directory.
async fn organisation_with_members(app: &TestApp, uids: &[&str]) -> (Organisation, Browser) {
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "owner@example.org", Role::Owner)
        .await;
    let page = owner
        .page(&format!("/orgs/{}/directory?q={}", org.id, uids[0]))
        .await;
    for uid in uids {
        let response = owner
            .post_form(
                &format!("/orgs/{}/members", org.id),
                &[
                    ("csrf_token", &page.csrf_token()),
                    ("uid", uid),
                    ("role", "member"),
                ],
            )
            .await;
        assert_eq!(response.status(), 303, "{uid}");
    }
    (org, owner)
}

/// The lowest and highest row numbers of a table (migration 0020).
async fn row_numbers(app: &TestApp, table: &str, column: &str) -> (i64, i64) {
    let pool = app.database.pool().await;
    let sql = format!("SELECT MIN({column}), MAX({column}) FROM {table}");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_one(&pool)
        .await
        .unwrap()
}

/// That a trigram index holds exactly each row's number and key (SQLite): `table` is
/// `(name, number column, key column)`.
async fn assert_index_follows(
    app: &TestApp,
    (table, column, key): (&str, &str, &str),
    index: &str,
) {
    let pool = app.database.pool().await;
    let rows = |sql: String| {
        let pool = pool.clone();
        async move {
            let mut rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.sort();
            rows
        }
    };
    let in_table = rows(format!("SELECT {column}, {key} FROM {table}")).await;
    let in_index = rows(format!("SELECT rowid, {key} FROM {index}")).await;
    assert_eq!(in_table, in_index, "{index} follows {table}");
}

#[tokio::test]
async fn people_arriving_in_sorted_order_stay_in_order_when_the_gaps_run_out() {
    let app = TestApp::spawn().await;
    let sqlite = app.settings.database.url.expose().starts_with("sqlite");
    refresh(&app.context).await.unwrap().unwrap();
    // 80 people sorting into one gap: the last first, then half in ascending order (each
    // numbered a step past the one before), then the rest in descending order (each
    // halfway between the one before and the last added), until the halves run out and
    // every row is numbered again.
    let uids: Vec<String> = (0..80).map(|n| format!("quenby{n:02}")).collect();
    let last = uids.len() - 1;
    let ascending = uids[..40].to_vec();
    let descending: Vec<String> = uids[40..last].iter().rev().cloned().collect();
    for batch in [&uids[last..], &ascending[..], &descending[..]] {
        for uid in batch {
            add_person(&app, uid, "Quenby", &format!("Given{uid}")).await;
        }
        refresh(&app.context).await.unwrap().unwrap();
    }
    let (index, truncated, source) = found(&app, "quenby").await;
    assert_eq!((source, truncated), (Source::Index, false));
    assert_eq!(index, uids);
    assert_eq!(index, in_ldap(&app, "quenby").await.0);
    if sqlite {
        // The first load numbered the rows from 2^61 / n up; numbered again, they are
        // below zero.
        let (lowest, _) = row_numbers(&app, "directory_index", "rank").await;
        assert!(lowest < 0, "{lowest}");
    }
    // A changed surname moves the person to their new place.
    rename(&app, "quenby40", "Aardvark").await;
    app.context.clock.advance(2);
    refresh(&app.context).await.unwrap().unwrap();
    let (index, _, _) = found(&app, "quenby").await;
    assert_eq!(index[0], "quenby40");
    assert_eq!(index, in_ldap(&app, "quenby").await.0);

    // The same people become accounts, in the same order, through the API: the staff
    // search lists them in order, page after page, and counts them all.
    let org = app.create_org("Astro", "astro").await;
    let token = app
        .api_token(Some(&org), &["org.view", "members.manage"])
        .await;
    for batch in [&uids[last..], &ascending[..], &descending[..]] {
        let tag = crate::support::api::header(
            &app.api_get("/api/v1/orgs/astro/members?limit=1", &token)
                .await,
            "etag",
        );
        let adds: Vec<serde_json::Value> = batch
            .iter()
            .map(|uid| serde_json::json!({"username": uid}))
            .collect();
        let response = crate::support::api::api_request(
            &app.address,
            reqwest::Method::PATCH,
            "/api/v1/orgs/astro/members",
            &token,
            Some(&serde_json::json!({"add": adds})),
            &[("If-Match", &tag)],
        )
        .await;
        assert_eq!(response.status(), 200);
    }
    if sqlite {
        // Numbered one by one, a few accounts stay within a few 2^32 steps; numbered
        // again, they are spread over 2^61.
        let (lowest, highest) = row_numbers(&app, "people", "key_row").await;
        assert!(highest - lowest > 1 << 50, "{lowest}..{highest}");
    }
    let admin = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let first = admin.page("/admin/accounts?q=quenby").await;
    assert_eq!(first.text("p.count"), "80 accounts.");
    let second = admin.page("/admin/accounts?q=quenby&page=2").await;
    let listed: Vec<String> = [first, second]
        .iter()
        .flat_map(|page| page.select_all("table.accounts td.username"))
        .collect();
    let mut expected = uids.clone();
    expected.retain(|uid| uid != "quenby40");
    expected.insert(0, "quenby40".to_string());
    assert_eq!(listed, expected);
    // A page past the end shows the last one, with the count.
    let past = admin.page("/admin/accounts?q=quenby&page=9").await;
    assert_eq!(past.text("p.count"), "80 accounts.");
    assert_eq!(
        past.select_all("table.accounts td.username"),
        expected[50..].to_vec()
    );

    // A deleted account leaves "any status" (and its count), and is found as deleted.
    app.signed_in_admin("root@example.org").await;
    let person = app.person_id("quenby05@example.org").await;
    let form = format!("/admin/accounts/{person}/delete");
    let response = app
        .browser
        .submit(&form, &form, &[("confirm", "quenby05")])
        .await;
    assert_eq!(response.status(), 303);
    let after = admin.page("/admin/accounts?q=quenby").await;
    assert_eq!(after.text("p.count"), "79 accounts.");
    assert!(
        !after
            .select_all("table.accounts td.username")
            .contains(&"quenby05".to_string())
    );
    let deleted = admin.page("/admin/accounts?q=quenby&status=deleted").await;
    assert_eq!(deleted.text("p.count"), "1 account.");
    if sqlite {
        let people = ("people", "key_row", "search_text");
        assert_index_follows(&app, people, "people_keys").await;
        let directory = ("directory_index", "rank", "search_key");
        assert_index_follows(&app, directory, "directory_index_keys").await;
    }
}
