//! The API's organisations and members: cursor paging with ETags, the versioned batch
//! change (all or nothing, one posixGroup rewrite), invitations, directory search, and
//! every write audited with the client as its actor.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::api::{add_directory_people, api_request, header};
use crate::support::app::TestApp;

async fn members_tag(app: &TestApp, token: &str) -> String {
    let response = app
        .api_get("/api/v1/orgs/astro/members?limit=1", token)
        .await;
    assert_eq!(response.status(), 200);
    header(&response, "etag")
}

async fn patch_members(app: &TestApp, token: &str, tag: &str, body: &Value) -> reqwest::Response {
    api_request(
        &app.address,
        Method::PATCH,
        "/api/v1/orgs/astro/members",
        token,
        Some(body),
        &[("If-Match", tag)],
    )
    .await
}

async fn all_usernames(app: &TestApp, token: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut after = String::new();
    loop {
        let response = app
            .api_get(
                &format!("/api/v1/orgs/astro/members?limit=1000&after={after}"),
                token,
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        for member in body["members"].as_array().unwrap() {
            found.push(member["username"].as_str().unwrap_or_default().to_string());
        }
        match body["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    found.sort();
    found
}

async fn sync_group_jobs(app: &TestApp, organisation_id: &str) -> Vec<(String, i64)> {
    let pool = app.database.pool().await;
    sqlx::query_as::<_, (String, i64)>(
        "SELECT status, attempts FROM jobs WHERE kind = 'sync_group' AND subject_id = $1",
    )
    .bind(organisation_id)
    .fetch_all(&pool)
    .await
    .unwrap()
}

async fn people_count(app: &TestApp) -> i64 {
    let pool = app.database.pool().await;
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM people")
        .fetch_one(&pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn members_page_by_cursor_and_answer_304_while_unchanged() {
    let app = TestApp::spawn().await;
    app.create_org("Astro", "astro").await;
    let token = app
        .api_token(
            None,
            &["org.view", "members.manage", "members.grant_manager"],
        )
        .await;

    let org = app.api_get("/api/v1/orgs/astro", &token).await;
    assert_eq!(org.status(), 200);
    let org_tag = header(&org, "etag");
    let body: Value = org.json().await.unwrap();
    assert_eq!(body["short_name"], "astro");
    assert_eq!(body["member_count"], 0);
    assert_eq!(
        format!("\"{}\"", body["version"].as_str().unwrap()),
        org_tag
    );
    let cached = api_request(
        &app.address,
        Method::GET,
        "/api/v1/orgs/astro",
        &token,
        None,
        &[("If-None-Match", &org_tag)],
    )
    .await;
    assert_eq!(cached.status(), 304);
    assert_eq!(header(&cached, "etag"), org_tag);
    assert!(!header(&cached, "ratelimit-remaining").is_empty());

    let tag = members_tag(&app, &token).await;
    let people = ["amueller", "jmueller", "aangstroem", "zbronte", "jgarcia"];
    let adds: Vec<Value> = people
        .iter()
        .map(|uid| json!({"username": uid, "role": "member"}))
        .collect();
    let response = patch_members(&app, &token, &tag, &json!({"add": adds})).await;
    assert_eq!(response.status(), 200);
    let new_tag = header(&response, "etag");
    assert_ne!(new_tag, tag);
    let result: Value = response.json().await.unwrap();
    assert_eq!(
        format!("\"{}\"", result["version"].as_str().unwrap()),
        new_tag
    );
    assert_eq!(result["changes"].as_array().unwrap().len(), 5);
    assert_eq!(result["changes"][0]["op"], "add");

    // Two at a time, by cursor, sorted by surname.
    let mut seen = Vec::new();
    let mut path = "/api/v1/orgs/astro/members?limit=2".to_string();
    loop {
        let response = app.api_get(&path, &token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "etag"), new_tag);
        let page: Value = response.json().await.unwrap();
        let members = page["members"].as_array().unwrap();
        assert!(members.len() <= 2);
        for member in members {
            assert_eq!(member["role"], "member");
            assert_eq!(member["status"], "active");
            assert!(member["email"].as_str().unwrap().contains('@'));
            seen.push(member["surname"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/orgs/astro/members?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort_by_key(|surname| surname.to_lowercase());
    assert_eq!(seen, sorted);

    // Unchanged: 304. The organisation's own tag moved with its members.
    let unchanged = api_request(
        &app.address,
        Method::GET,
        "/api/v1/orgs/astro/members?limit=2",
        &token,
        None,
        &[("If-None-Match", &new_tag)],
    )
    .await;
    assert_eq!(unchanged.status(), 304);
    let org = api_request(
        &app.address,
        Method::GET,
        "/api/v1/orgs/astro",
        &token,
        None,
        &[("If-None-Match", &org_tag)],
    )
    .await;
    assert_eq!(org.status(), 200);
    let body: Value = org.json().await.unwrap();
    assert_eq!(body["member_count"], 5);

    // Bad paging input is a 4xx, never a 500.
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "after=%%%",
        "after=not-base64!",
    ] {
        let response = app
            .api_get(&format!("/api/v1/orgs/astro/members?{bad}"), &token)
            .await;
        assert!(
            response.status().is_client_error(),
            "{bad}: {}",
            response.status()
        );
        assert_eq!(
            header(&response, "content-type"),
            "application/problem+json"
        );
    }
    app.run_jobs().await;
    assert_eq!(app.ldap_member_uids("astro").await.unwrap().len(), 5);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_batch_of_a_thousand_adds_rewrites_the_posix_group_once() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let uids: Vec<String> = (0..1000).map(|n| format!("batch{n:04}")).collect();
    add_directory_people(&app, &uids).await;
    let credentials = app
        .api_client(Some(&astro), &["org.view", "members.manage"])
        .await;
    let token = app.token_for(&credentials).await;
    let jobs_before = sync_group_jobs(&app, &astro.id).await.len();

    let tag = members_tag(&app, &token).await;
    // Half by username, half by email: both are looked up in the directory.
    let adds: Vec<Value> = uids
        .iter()
        .enumerate()
        .map(|(n, uid)| {
            if n % 2 == 0 {
                json!({"username": uid})
            } else {
                json!({"email": format!("{uid}@example.org"), "end_date": "2099-12-31"})
            }
        })
        .collect();
    let response = patch_members(&app, &token, &tag, &json!({"add": adds})).await;
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["changes"].as_array().unwrap().len(), 1000);

    // The change applied LDAP at once, in one job: one rewrite of the group.
    let jobs = sync_group_jobs(&app, &astro.id).await;
    assert_eq!(jobs.len(), jobs_before + 1, "{jobs:?}");
    assert!(jobs.iter().all(|(status, _)| status == "done"), "{jobs:?}");
    let in_ldap = app.ldap_member_uids("astro").await.unwrap();
    assert_eq!(in_ldap, uids);
    assert_eq!(all_usernames(&app, &token).await, uids);

    // Each addition is audited with the client as the actor, and the batch once.
    let pool = app.database.pool().await;
    let by_client: Vec<(String, i64)> = sqlx::query_as(
        "SELECT action, COUNT(*) FROM audit_events WHERE actor_id = $1 GROUP BY action ORDER BY action",
    )
    .bind(&credentials.id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        by_client,
        vec![
            ("client.first_used".to_string(), 1),
            ("member.added".to_string(), 1000),
            ("members.batch".to_string(), 1)
        ]
    );
    app.assert_directory_settled().await;

    // The staff search counts up to 1,000 matches, and says when there are more.
    let desk = app
        .staff_browser("desk@example.org", roster::domain::Role::Helpdesk)
        .await;
    let exactly = desk.page("/admin/accounts?q=batch&page=99").await;
    assert_eq!(exactly.text("p.count"), "1000 accounts.");
    assert_eq!(
        exactly.select_all("table.accounts td.username").last(),
        Some(&"batch0999".to_string())
    );
    let more = desk.page("/admin/accounts?q=example.org").await;
    assert_eq!(
        more.text("p.count"),
        "More than 1000 accounts match. Only the first 1000 are shown: add to the search to narrow it."
    );
    assert_eq!(more.select_all("table.accounts td.username").len(), 50);
}

#[tokio::test]
async fn two_scripts_holding_the_same_etag_cannot_overwrite_each_other() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let first = app
        .api_token(Some(&astro), &["org.view", "members.manage"])
        .await;
    let second = app
        .api_token(Some(&astro), &["org.view", "members.manage"])
        .await;
    let tag = members_tag(&app, &first).await;
    assert_eq!(members_tag(&app, &second).await, tag);

    let a = patch_members(
        &app,
        &first,
        &tag,
        &json!({"add": [{"username": "amueller"}]}),
    )
    .await;
    assert_eq!(a.status(), 200);
    let b = patch_members(
        &app,
        &second,
        &tag,
        &json!({"add": [{"username": "jmueller"}]}),
    )
    .await;
    assert_eq!(b.status(), 412);
    assert_eq!(header(&b, "content-type"), "application/problem+json");
    let problem: Value = b.json().await.unwrap();
    assert_eq!(problem["status"], 412);

    // The second re-reads and retries; nothing of either is lost.
    let fresh = members_tag(&app, &second).await;
    let b = patch_members(
        &app,
        &second,
        &fresh,
        &json!({"add": [{"username": "jmueller"}]}),
    )
    .await;
    assert_eq!(b.status(), 200);
    assert_eq!(
        all_usernames(&app, &first).await,
        vec!["amueller", "jmueller"]
    );

    // Without If-Match: 428. A weak or malformed tag is stale, never a 500.
    let none = api_request(
        &app.address,
        Method::PATCH,
        "/api/v1/orgs/astro/members",
        &first,
        Some(&json!({"remove": [{"username": "amueller"}]})),
        &[],
    )
    .await;
    assert_eq!(none.status(), 428);
    for bad in ["W/\"1\"", "garbage", "\"-1\""] {
        let response = patch_members(
            &app,
            &first,
            bad,
            &json!({"remove": [{"username": "amueller"}]}),
        )
        .await;
        assert_eq!(response.status(), 412, "{bad}");
    }
    app.run_jobs().await;
    assert_eq!(
        app.ldap_member_uids("astro").await.unwrap(),
        vec!["amueller", "jmueller"]
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn one_bad_item_makes_the_whole_batch_422_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    // A manager's rights: members only, no owners or managers.
    let token = app
        .api_token(Some(&astro), &["org.view", "members.manage"])
        .await;
    let tag = members_tag(&app, &token).await;
    let ok = patch_members(
        &app,
        &token,
        &tag,
        &json!({"add": [{"username": "amueller"}]}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    app.run_jobs().await;
    let tag = header(&ok, "etag");
    let people_before = people_count(&app).await;

    let body = json!({
        "add": [
            {"username": "jmueller"},
            {"email": "not-an-email"},
            {"username": "nobody-here"},
            {"username": "*)(uid=*"},
            {"username": "zbronte", "role": "owner"},
            {"username": "jgarcia", "end_date": "1999-01-01"},
            {"username": "amueller"},
            {"email": "x@example.org", "username": "both"},
            {"username": "jmueller"}
        ],
        "update": [{"username": "aangstroem", "role": "manager"}],
        "remove": [{"username": "jgarcia"}]
    });
    let response = patch_members(&app, &token, &tag, &body).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let errors: Vec<(i64, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            assert!(!error["message"].as_str().unwrap().is_empty());
            (
                error["index"].as_i64().unwrap(),
                error["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Malformed items first (parsing), each named by its place and field.
    assert_eq!(
        errors,
        vec![
            (1, "add[1].email".to_string()),
            (3, "add[3].username".to_string()),
            (5, "add[5].end_date".to_string()),
            (7, "add[7].email".to_string()),
        ]
    );
    // With those fixed, the rules: unknown person, owner not grantable, already a member,
    // named twice, not a member.
    let body = json!({
        "add": [
            {"username": "jmueller"},
            {"username": "nobody-here"},
            {"username": "zbronte", "role": "owner"},
            {"username": "amueller"},
            {"username": "jmueller"}
        ],
        "update": [{"username": "aangstroem", "role": "member"}],
        "remove": [{"username": "jgarcia"}]
    });
    let response = patch_members(&app, &token, &tag, &body).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "add[1].username",
            "add[2].role",
            "add[3].username",
            "add[4].username",
            "update[0].username",
            "remove[0].username"
        ]
    );

    // Nothing changed: the version, the members, the accounts, LDAP.
    assert_eq!(members_tag(&app, &token).await, tag);
    assert_eq!(all_usernames(&app, &token).await, vec!["amueller"]);
    assert_eq!(people_count(&app).await, people_before);
    assert_eq!(
        app.ldap_member_uids("astro").await.unwrap(),
        vec!["amueller"]
    );

    // Hostile bodies are 4xx with problem+json too.
    let too_many: Vec<Value> = (0..1001)
        .map(|n| json!({"username": format!("u{n}")}))
        .collect();
    let huge = json!({"add": [{"username": "x".repeat(2 * 1024 * 1024)}]});
    for (case, body, status) in [
        ("1001 items", json!({"add": too_many}), 422),
        ("over a megabyte", huge, 413),
        (
            "unknown field",
            json!({"add": [{"username": "jgarcia", "admin": true}]}),
            400,
        ),
        ("wrong shape", json!({"add": "jgarcia"}), 400),
    ] {
        let response = patch_members(&app, &token, &tag, &body).await;
        assert_eq!(response.status().as_u16(), status, "{case}");
        assert_eq!(
            header(&response, "content-type"),
            "application/problem+json",
            "{case}"
        );
    }
    let not_json = reqwest::Client::new()
        .patch(format!("{}/api/v1/orgs/astro/members", app.address))
        .bearer_auth(&token)
        .header("If-Match", &tag)
        .header("Content-Type", "text/plain")
        .body("add everyone")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    assert_eq!(members_tag(&app, &token).await, tag);

    // Nor may this client invite an owner: the same rule, in the invitation's use case.
    let token = app
        .api_token(Some(&astro), &["org.view", "invitations.manage"])
        .await;
    let refused = app
        .api(
            Method::POST,
            "/api/v1/orgs/astro/invitations",
            &token,
            Some(&json!({"email": "boss@example.org", "surname": "Boss", "role": "owner"})),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "role");
    assert!(
        app.context
            .store
            .invitations_of_organisation(&astro.id)
            .await
            .unwrap()
            .is_empty()
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn every_write_through_the_api_is_audited_with_the_client_as_actor() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let credentials = app
        .api_client_named(
            Some(&astro),
            "nightly sync",
            &[
                "org.view",
                "org.edit",
                "org.history",
                "members.manage",
                "members.grant_manager",
                "invitations.manage",
            ],
        )
        .await;
    let token = app.token_for(&credentials).await;

    // The organisation's name and description, under If-Match.
    let org = app.api_get("/api/v1/orgs/astro", &token).await;
    let tag = header(&org, "etag");
    let change = json!({"name": "Astrophysics", "description": "Stars"});
    let without = app
        .api(Method::PATCH, "/api/v1/orgs/astro", &token, Some(&change))
        .await;
    assert_eq!(without.status(), 428);
    let patched = api_request(
        &app.address,
        Method::PATCH,
        "/api/v1/orgs/astro",
        &token,
        Some(&change),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(patched.status(), 200);
    let body: Value = patched.json().await.unwrap();
    assert_eq!(body["name"], "Astrophysics");
    assert_eq!(body["description"], "Stars");
    let stale = api_request(
        &app.address,
        Method::PATCH,
        "/api/v1/orgs/astro",
        &token,
        Some(&json!({"description": "lost?"})),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(stale.status(), 412);
    let invalid = api_request(
        &app.address,
        Method::PATCH,
        "/api/v1/orgs/astro",
        &token,
        Some(&json!({"name": ""})),
        &[("If-Match", "*")],
    )
    .await;
    assert_eq!(invalid.status(), 422);

    // Members: add, update, remove in batches.
    let tag = members_tag(&app, &token).await;
    let added = patch_members(
        &app,
        &token,
        &tag,
        &json!({"add": [{"username": "amueller", "role": "manager"}, {"email": "jonas.mueller@example.org"}]}),
    )
    .await;
    assert_eq!(added.status(), 200, "{:?}", added.text().await);
    let tag = members_tag(&app, &token).await;
    let updated = patch_members(
        &app,
        &token,
        &tag,
        &json!({"update": [{"username": "amueller", "end_date": "2099-01-31"}], "remove": [{"username": "jmueller"}]}),
    )
    .await;
    assert_eq!(updated.status(), 200);
    let result: Value = updated.json().await.unwrap();
    assert_eq!(result["changes"][0]["role"], "manager");
    assert_eq!(result["changes"][0]["end_date"], "2099-01-31");
    assert_eq!(result["changes"][1]["op"], "remove");

    // Invitations: the link goes by mail and works; resend and withdraw.
    let invite =
        json!({"email": "new.person@example.org", "surname": "Person", "given_name": "New"});
    let created = app
        .api(
            Method::POST,
            "/api/v1/orgs/astro/invitations",
            &token,
            Some(&invite),
        )
        .await;
    assert_eq!(created.status(), 201);
    let location = header(&created, "location");
    let invitation: Value = created.json().await.unwrap();
    assert_eq!(
        location,
        format!(
            "/api/v1/orgs/astro/invitations/{}",
            invitation["id"].as_str().unwrap()
        )
    );
    assert_eq!(invitation["status"], "pending");
    assert!(
        invitation.get("link").is_none(),
        "the link is never returned"
    );
    let mail = app.mail_to("new.person@example.org").await;
    let link = crate::support::app::invitation_link(&mail);
    assert_eq!(app.new_browser().get(&link).await.status(), 200);
    let id = invitation["id"].as_str().unwrap();
    let resent = app
        .api(
            Method::POST,
            &format!("/api/v1/orgs/astro/invitations/{id}/resend"),
            &token,
            None,
        )
        .await;
    assert_eq!(resent.status(), 200);
    let listed: Value = app
        .api_get("/api/v1/orgs/astro/invitations", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["invitations"].as_array().unwrap().len(), 1);
    let withdrawn = app
        .api(
            Method::DELETE,
            &format!("/api/v1/orgs/astro/invitations/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(withdrawn.status(), 204);
    let again = app
        .api(
            Method::DELETE,
            &format!("/api/v1/orgs/astro/invitations/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(again.status(), 409);
    let foreign = app
        .api(
            Method::DELETE,
            "/api/v1/orgs/astro/invitations/no-such-id",
            &token,
            None,
        )
        .await;
    assert_eq!(foreign.status(), 404);
    let bad = app
        .api(
            Method::POST,
            "/api/v1/orgs/astro/invitations",
            &token,
            Some(&json!({"email": "bad", "surname": "", "role": "admin"})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let problem: Value = bad.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "surname", "role"]);

    // The organisation's history names the client for every one of these writes.
    app.signed_in_admin("admin@example.org").await;
    let history = app
        .browser
        .page(&format!("/orgs/{}/history", astro.id))
        .await;
    let rows: Vec<(String, String)> = history
        .attr_all("table.history tbody tr", "data-event")
        .into_iter()
        .zip(history.select_all("table.history td.event .actor"))
        .collect();
    for action in [
        "organisation.renamed",
        "member.added",
        "members.batch",
        "member.changed",
        "member.removed",
        "invitation.created",
        "invitation.resent",
        "invitation.revoked",
    ] {
        let actors: Vec<&String> = rows
            .iter()
            .filter(|(done, _)| done == action)
            .map(|(_, actor)| actor)
            .collect();
        assert!(!actors.is_empty(), "{action} missing from {rows:?}");
        assert!(
            actors
                .iter()
                .all(|actor| *actor == "API client “nightly sync”"),
            "{action}: {actors:?}"
        );
    }
    // The invitations page names the client that sent one.
    let invitations = app
        .browser
        .page(&format!("/orgs/{}/invitations", astro.id))
        .await;
    assert_eq!(
        invitations.select_all("table.invitations .sent-by"),
        vec!["by API client “nightly sync”"]
    );
    app.run_jobs().await;
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn directory_search_and_roles_follow_the_same_rules_as_the_pages() {
    let app = TestApp::spawn().await;
    let token = app.api_token(None, &["directory.search"]).await;
    let response = app.api_get("/api/v1/people?q=smith", &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let uids: Vec<&str> = body["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|person| person["username"].as_str().unwrap())
        .collect();
    assert_eq!(uids, vec!["esmith", "jsmith"]);
    assert_eq!(body["truncated"], false);
    for bad in ["q=a", "q=", "q=%00x"] {
        let response = app.api_get(&format!("/api/v1/people?{bad}"), &token).await;
        assert_eq!(response.status(), 422, "{bad}");
    }
    let hostile = app.api_get("/api/v1/people?q=*)(uid%3D*", &token).await;
    assert_eq!(hostile.status(), 200);
    let body: Value = hostile.json().await.unwrap();
    assert!(body["people"].as_array().unwrap().is_empty());

    let roles: Value = app
        .api_get("/api/v1/roles", &token)
        .await
        .json()
        .await
        .unwrap();
    let owner = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["name"] == "owner")
        .unwrap()
        .clone();
    assert_eq!(owner["scope"], "organisation");
    assert!(
        owner["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("clients.manage"))
    );
}

#[tokio::test]
async fn concurrent_batches_on_two_instances_one_wins_the_other_gets_412() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let mut settings = app.settings.clone();
    settings.server.public_url = app.address.clone();
    let (second, _) = crate::support::app::start_instance(settings).await;
    let first_token = app
        .api_token(Some(&astro), &["org.view", "members.manage"])
        .await;
    let second_token = app
        .api_token(Some(&astro), &["org.view", "members.manage"])
        .await;
    for round in 0..5 {
        let tag = members_tag(&app, &first_token).await;
        let adds = |uid: &str| json!({"add": [{"username": uid}]});
        let (a_uid, b_uid) = [
            ("amueller", "jmueller"),
            ("aangstroem", "zbronte"),
            ("jgarcia", "flefevre"),
            ("hdubois", "lwojcik"),
            ("akowalska", "advorak"),
        ][round];
        let (a_body, b_body) = (adds(a_uid), adds(b_uid));
        let if_match = [("If-Match", tag.as_str())];
        let (a, b) = tokio::join!(
            api_request(
                &app.address,
                Method::PATCH,
                "/api/v1/orgs/astro/members",
                &first_token,
                Some(&a_body),
                &if_match,
            ),
            api_request(
                &second,
                Method::PATCH,
                "/api/v1/orgs/astro/members",
                &second_token,
                Some(&b_body),
                &if_match,
            ),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 412], "round {round}");
    }
    assert_eq!(all_usernames(&app, &first_token).await.len(), 5);
    app.run_jobs().await;
    assert_eq!(app.ldap_member_uids("astro").await.unwrap().len(), 5);
    app.assert_directory_settled().await;
}
