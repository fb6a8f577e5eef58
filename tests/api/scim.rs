//! SCIM 2.0 push (issue 15), against a real scim2-server behind the fault-injecting
//! proxy: what the target holds is checked by listing its own Users and Groups.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::api::{add_directory_people, api_request, header};
use crate::support::app::TestApp;
use crate::support::scim::{ProxyMode, ScimServer};

fn target(scim: &ScimServer, rate_per_minute: u32) -> roster::config::ScimTargetSettings {
    roster::config::ScimTargetSettings {
        name: "idp".into(),
        base_url: scim.base_url(),
        bearer_token: roster::config::Secret::default(),
        bearer_token_file: Some(scim.token_file()),
        rate_per_minute,
        max_batch: 100,
        timeout_seconds: 2,
        users: true,
        groups: true,
        permissions: true,
    }
}

/// An app pushing to `scim` (the token read from its file, as in production).
async fn app_pushing_to(scim: &ScimServer, rate_per_minute: u32) -> TestApp {
    app_pushing_with(scim, |target| target.rate_per_minute = rate_per_minute).await
}

async fn app_pushing_with(
    scim: &ScimServer,
    adjust: impl FnOnce(&mut roster::config::ScimTargetSettings),
) -> TestApp {
    let token = std::fs::read_to_string(scim.token_file()).unwrap();
    TestApp::spawn_with(|settings| {
        let mut target = target(scim, 60_000);
        target.bearer_token = roster::config::Secret::new(token.trim());
        adjust(&mut target);
        settings.provisioning.scim.push(target);
    })
    .await
}

/// Adds directory people to an organisation through the API's member batch, as a
/// provisioning script would.
async fn add_members(
    app: &TestApp,
    org: &roster::store::organisations::Organisation,
    uids: &[String],
) -> String {
    let credentials = app
        .api_client(
            Some(org),
            &["org.view", "members.manage", "members.grant_manager"],
        )
        .await;
    let token = app.token_for(&credentials).await;
    let adds: Vec<Value> = uids.iter().map(|uid| json!({ "username": uid })).collect();
    change_members(app, &token, &org.short_name, &json!({ "add": adds })).await;
    token
}

async fn change_members(app: &TestApp, token: &str, org: &str, body: &Value) {
    let tag = header(
        &app.api_get(&format!("/api/v1/orgs/{org}/members?limit=1"), token)
            .await,
        "etag",
    );
    let response = api_request(
        &app.address,
        Method::PATCH,
        &format!("/api/v1/orgs/{org}/members"),
        token,
        Some(body),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// The target's Groups: displayName → member userNames.
async fn remote_groups(scim: &ScimServer) -> BTreeMap<String, BTreeSet<String>> {
    let users = scim.users().await;
    let names: BTreeMap<String, String> = users
        .iter()
        .map(|user| {
            (
                user["id"].as_str().unwrap().to_string(),
                user["userName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    scim.groups()
        .await
        .iter()
        .map(|group| {
            let members = group["members"]
                .as_array()
                .map(|members| {
                    members
                        .iter()
                        .map(|member| names[member["value"].as_str().unwrap()].clone())
                        .collect()
                })
                .unwrap_or_default();
            (group["displayName"].as_str().unwrap().to_string(), members)
        })
        .collect()
}

async fn scim_jobs(app: &TestApp) -> Vec<(String, String, i64)> {
    let pool = app.database.pool().await;
    sqlx::query_as("SELECT kind, status, attempts FROM jobs WHERE target = 'idp' ORDER BY kind")
        .fetch_all(&pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_thousand_people_and_fifty_organisations_converge_exactly() {
    let scim = ScimServer::start();
    // A Bulk of 100 Users may take the test target longer than 2 s on a loaded machine.
    let app = app_pushing_with(&scim, |target| target.timeout_seconds = 10).await;
    let uids: Vec<String> = (0..1000).map(|n| format!("p{n:04}")).collect();
    add_directory_people(&app, &uids).await;
    let mut expected_groups = BTreeMap::new();
    for (index, chunk) in uids.chunks(20).enumerate() {
        let short = format!("org{index:02}");
        let org = app
            .create_org(&format!("Organisation {index}"), &short)
            .await;
        add_members(&app, &org, chunk).await;
        expected_groups.insert(short, chunk.iter().cloned().collect::<BTreeSet<_>>());
    }
    app.run_jobs().await;

    // A push that timed out on a loaded machine is retried after its backoff.
    let mut ran = app.run_scim_jobs().await;
    for _ in 0..5 {
        if scim_jobs(&app)
            .await
            .iter()
            .all(|(_, status, _)| status == "done")
        {
            break;
        }
        app.context.clock.advance(10 * 60);
        ran += app.run_scim_jobs().await;
    }
    assert!(ran >= 1050, "{ran} jobs ran");
    let users = scim.users().await;
    assert_eq!(users.len(), 1000);
    for user in &users {
        let username = user["userName"].as_str().unwrap();
        assert_eq!(user["active"], true, "{user}");
        assert_eq!(
            user["emails"][0]["value"],
            format!("{username}@example.org")
        );
        assert_eq!(user["name"]["familyName"], format!("Surname{username}"));
        let person_id = app.person_id(&format!("{username}@example.org")).await;
        assert_eq!(user["externalId"], person_id.as_str());
        let index: usize = username[1..].parse().unwrap();
        let entitlements: Vec<&str> = user["entitlements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entitlement| entitlement["value"].as_str().unwrap())
            .collect();
        assert!(
            entitlements.contains(&format!("org{:02}:org.view", index / 20).as_str()),
            "{entitlements:?}"
        );
    }
    assert_eq!(remote_groups(&scim).await, expected_groups);
    // The target announces Bulk: Users went in Bulk requests, not one POST each.
    let requests = scim.requests().await;
    let bulk = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/Bulk")
        .count();
    let single_user_posts = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/Users")
        .count();
    assert!(
        bulk >= 10 && single_user_posts == 0,
        "{bulk} Bulk, {single_user_posts} single POSTs"
    );
    assert!(
        scim_jobs(&app)
            .await
            .iter()
            .all(|(_, status, _)| status == "done")
    );

    // A second run has nothing to do, and the drift report is empty.
    scim.clear_requests().await;
    assert_eq!(app.run_scim_jobs().await, 0);
    let report = roster::usecases::provisioning::drift_report(&app.context, "idp")
        .await
        .unwrap();
    assert!(report.items.is_empty(), "{:?}", report.items);
    assert_eq!((report.users_expected, report.groups_expected), (1000, 50));
}

#[tokio::test]
async fn a_lock_a_role_change_and_a_removal_each_reach_the_target_in_one_run() {
    let scim = ScimServer::start();
    let app = app_pushing_to(&scim, 60_000).await;
    let uids: Vec<String> = ["lmueller", "lnunez", "losullivan"]
        .map(String::from)
        .to_vec();
    add_directory_people(&app, &uids).await;
    let org = app.create_org("Physics", "phys").await;
    let token = add_members(&app, &org, &uids).await;
    app.run_jobs().await;
    app.run_scim_jobs().await;
    let entitlements = |user: &Value| -> BTreeSet<String> {
        user["entitlements"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .map(|v| v["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = scim.user_named("lnunez").await.unwrap();
    assert!(!entitlements(&before).contains("phys:members.manage"));

    // A role change updates the entitlements.
    change_members(
        &app,
        &token,
        "phys",
        &json!({"update": [{"username": "lnunez", "role": "manager"}]}),
    )
    .await;
    app.run_scim_jobs().await;
    let after = scim.user_named("lnunez").await.unwrap();
    assert!(
        entitlements(&after).contains("phys:members.manage"),
        "{after}"
    );
    assert_eq!(after["id"], before["id"], "the same User, updated");

    // A lock makes the User inactive, never deleted.
    let helpdesk = app
        .staff_browser("desk@example.org", roster::domain::Role::Helpdesk)
        .await;
    let person = app.person_id("lmueller@example.org").await;
    let response = helpdesk
        .submit(
            &format!("/admin/accounts/{person}"),
            &format!("/admin/accounts/{person}/lock"),
            &[("reason", "left")],
        )
        .await;
    assert_eq!(response.status(), 303);
    app.run_scim_jobs().await;
    assert_eq!(scim.user_named("lmueller").await.unwrap()["active"], false);

    // A removed member leaves the group (a PATCH, not a replace), and without any
    // membership left the User is inactive.
    scim.clear_requests().await;
    change_members(
        &app,
        &token,
        "phys",
        &json!({"remove": [{"username": "losullivan"}]}),
    )
    .await;
    app.run_scim_jobs().await;
    let groups = remote_groups(&scim).await;
    assert_eq!(
        groups["phys"],
        ["lmueller", "lnunez"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    let left = scim.user_named("losullivan").await.unwrap();
    assert_eq!(left["active"], false);
    assert!(entitlements(&left).is_empty());
    let methods: BTreeSet<String> = scim
        .requests()
        .await
        .iter()
        .filter(|r| r.path.starts_with("/Groups"))
        .map(|r| r.method.clone())
        .collect();
    assert!(
        methods.contains("PATCH") && !methods.contains("PUT"),
        "{methods:?}"
    );
}

#[tokio::test]
async fn a_minute_of_429s_loses_nothing_and_the_rate_is_never_exceeded() {
    let scim = ScimServer::start();
    // 600 a minute: one request every 100 ms at most; no Bulk, so one request per User.
    let app = app_pushing_with(&scim, |target| {
        target.rate_per_minute = 600;
        target.max_batch = 1;
    })
    .await;
    let uids: Vec<String> = (0..24).map(|n| format!("rate{n:02}")).collect();
    add_directory_people(&app, &uids).await;
    let org = app.create_org("Rates", "rates").await;
    add_members(&app, &org, &uids).await;
    app.run_jobs().await;

    scim.set_mode(ProxyMode::TooManyRequests {
        retry_after_seconds: 60,
    })
    .await;
    app.run_scim_jobs().await;
    let refused = scim.requests().await;
    assert!(!refused.is_empty() && refused.iter().all(|r| r.status == 429));
    // Paused for the Retry-After: nothing more is sent while it lasts.
    app.context.clock.advance(30);
    assert_eq!(app.run_scim_jobs().await, 0);
    assert_eq!(scim.requests().await.len(), refused.len());
    assert!(scim.users().await.is_empty());
    let waiting = scim_jobs(&app).await;
    assert!(
        waiting.iter().all(|(_, status, _)| status == "pending"),
        "{waiting:?}"
    );

    // The minute is over: everything arrives, pushed by two instances at once, which
    // share the target's pacing.
    scim.set_mode(ProxyMode::Pass).await;
    scim.clear_requests().await;
    app.context.clock.advance(31);
    let (_, second) = crate::support::app::start_instance(app.settings.clone()).await;
    second.clock.advance(61);
    tokio::join!(
        app.run_scim_jobs(),
        roster::jobs::scim::run_all_due(&second)
    );
    assert_eq!(scim.users().await.len(), 24);
    assert_eq!(remote_groups(&scim).await["rates"].len(), 24);
    let times: Vec<f64> = scim.requests().await.iter().map(|r| r.at).collect();
    assert!(times.len() >= 25, "{} requests", times.len());
    // However the network delays single requests, no stretch of time holds more requests
    // than the rate allows (one per 100 ms, plus the one that opens the stretch).
    for (i, start) in times.iter().enumerate() {
        for (j, end) in times.iter().enumerate().skip(i + 1) {
            let allowed = (end - start) / 0.1 + 1.0;
            assert!(
                (j - i) as f64 <= allowed + 1e-9,
                "{} requests within {:.3} s",
                j - i + 1,
                end - start
            );
        }
    }
    let span = times.last().unwrap() - times.first().unwrap();
    assert!(
        span >= (times.len() - 2) as f64 * 0.1,
        "paced: {span:.3} s for {} requests",
        times.len()
    );
}

#[tokio::test]
async fn unavailable_and_hanging_targets_back_off_then_converge() {
    let scim = ScimServer::start();
    let app = app_pushing_to(&scim, 60_000).await;
    let uids: Vec<String> = ["adown", "bdown"].map(String::from).to_vec();
    add_directory_people(&app, &uids).await;
    let org = app.create_org("Outage", "outage").await;
    add_members(&app, &org, &uids).await;
    app.run_jobs().await;

    scim.set_mode(ProxyMode::Unavailable).await;
    app.run_scim_jobs().await;
    let pool = app.database.pool().await;
    let errors: Vec<(String, i64)> = sqlx::query_as(
        "SELECT COALESCE(last_error, ''), next_attempt_at FROM jobs WHERE target = 'idp' AND status = 'pending'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!errors.is_empty());
    // The first failure backs the whole target off, so the other jobs wait untried.
    assert!(
        errors.iter().any(|(error, _)| error.contains("503")),
        "{errors:?}"
    );
    let sent = scim.requests().await;
    assert!(sent.len() <= 2, "{sent:?}");
    // Backing off: nothing is due right away.
    let sent = scim.requests().await.len();
    assert_eq!(app.run_scim_jobs().await, 0);
    assert_eq!(scim.requests().await.len(), sent);

    // A target that hangs is given up on after timeout_seconds, and retried later.
    scim.set_mode(ProxyMode::Hang { seconds: 10 }).await;
    app.context.clock.advance(600);
    let started = std::time::Instant::now();
    app.run_scim_jobs().await;
    // Given up after timeout_seconds (2 s): the configuration question, then one job.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let errors: Vec<(String,)> = sqlx::query_as(
        "SELECT COALESCE(last_error, '') FROM jobs WHERE target = 'idp' AND status = 'pending'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        errors.iter().any(|(error,)| error.contains("timeout")),
        "{errors:?}"
    );

    scim.set_mode(ProxyMode::Pass).await;
    app.context.clock.advance(600);
    app.run_scim_jobs().await;
    assert_eq!(scim.users().await.len(), 2);
    assert_eq!(remote_groups(&scim).await["outage"].len(), 2);
    assert!(
        scim_jobs(&app)
            .await
            .iter()
            .all(|(_, status, _)| status == "done")
    );
}

#[tokio::test]
async fn a_clash_on_create_is_adopted_when_free_and_fails_visibly_when_not() {
    let scim = ScimServer::start();
    let app = app_pushing_to(&scim, 60_000).await;
    let uids: Vec<String> = ["afree", "btaken"].map(String::from).to_vec();
    add_directory_people(&app, &uids).await;
    // Made at the target before Roster pushes: one untagged, one someone else's.
    let user = |name: &str, external: Option<&str>| {
        let mut body =
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
        if let Some(external) = external {
            body["externalId"] = json!(external);
        }
        body
    };
    let (status, free) = scim
        .request(Method::POST, "/Users", Some(user("afree", None)))
        .await;
    assert_eq!(status, 201);
    let (status, _) = scim
        .request(
            Method::POST,
            "/Users",
            Some(user("btaken", Some("hr-4711"))),
        )
        .await;
    assert_eq!(status, 201);
    let org = app.create_org("Clash", "clash").await;
    add_members(&app, &org, &uids).await;
    app.run_jobs().await;
    app.run_scim_jobs().await;

    let adopted = scim.user_named("afree").await.unwrap();
    assert_eq!(adopted["id"], free["id"], "the existing User was adopted");
    assert_eq!(
        adopted["externalId"],
        app.person_id("afree@example.org").await.as_str()
    );
    let foreign = scim.user_named("btaken").await.unwrap();
    assert_eq!(
        foreign["externalId"], "hr-4711",
        "someone else's User is left alone"
    );
    assert!(foreign.get("emails").is_none());

    // The clash is a failed job on the outbox page, under its target, with the reason.
    let admin = app
        .staff_browser("admin@example.org", roster::domain::Role::SiteAdmin)
        .await;
    let page = admin.page("/admin/jobs").await;
    let failed = page.select_all("section.scim-target td.error");
    assert!(
        failed
            .iter()
            .any(|error| error.contains("btaken") && error.contains("hr-4711")),
        "{failed:?}"
    );
    assert_eq!(page.text("section.scim-target span.failed"), "1 failed");
}

#[tokio::test]
async fn drift_is_reported_and_repaired_and_foreign_objects_are_never_touched() {
    let scim = ScimServer::start();
    let app = app_pushing_to(&scim, 60_000).await;
    let uids: Vec<String> = ["adrift", "bdrift", "cdrift"].map(String::from).to_vec();
    add_directory_people(&app, &uids).await;
    let org = app.create_org("Drift", "drift").await;
    add_members(&app, &org, &uids).await;
    app.run_jobs().await;
    app.run_scim_jobs().await;

    // Out-of-band changes at the target.
    let adrift = scim.user_named("adrift").await.unwrap();
    let id = adrift["id"].as_str().unwrap();
    let mut edited = adrift.clone();
    edited["name"]["familyName"] = json!("Edited");
    assert_eq!(
        scim.request(Method::PUT, &format!("/Users/{id}"), Some(edited))
            .await
            .0,
        200
    );
    let group = scim.group_named("drift").await.unwrap();
    let group_id = group["id"].as_str().unwrap();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]});
    assert_eq!(
        scim.request(Method::PATCH, &format!("/Groups/{group_id}"), Some(patch))
            .await
            .0,
        204
    );
    // A User tagged with a portal id Roster expects no User for, and two foreign ones.
    let tagged = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ghost", "externalId": org.id});
    let foreign =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "hr-only"});
    let foreign_tagged = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "hr-tagged", "externalId": "hr-1"});
    for body in [tagged, foreign, foreign_tagged] {
        assert_eq!(
            scim.request(Method::POST, "/Users", Some(body)).await.0,
            201
        );
    }

    let admin = app
        .staff_browser("admin@example.org", roster::domain::Role::SiteAdmin)
        .await;
    let page = admin.page("/admin/scim/idp").await;
    let problems = page.select_all("table.drift td.problem");
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("adrift") && p.contains("differs in name"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("drift") && p.contains("lacks members adrift"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("ghost") && p.contains("not expected"))
    );

    // One item repaired on its own.
    let person = app.person_id("adrift@example.org").await;
    let response = admin
        .submit(
            "/admin/scim/idp",
            "/admin/scim/idp/repair",
            &[("kind", "User"), ("local_id", &person)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        scim.user_named("adrift").await.unwrap()["name"]["familyName"],
        "Surnameadrift"
    );
    let page = admin.page("/admin/scim/idp").await;
    assert_eq!(page.select_all("table.drift td.problem").len(), 2);

    // Then the rest at once.
    let response = admin
        .submit("/admin/scim/idp", "/admin/scim/idp/repair", &[])
        .await;
    assert_eq!(response.status(), 303);
    let page = admin.page("/admin/scim/idp").await;
    assert!(page.text("p.in-step").contains("No differences"));
    assert!(scim.user_named("ghost").await.is_none());
    assert_eq!(remote_groups(&scim).await["drift"].len(), 3);
    // Foreign objects are exactly as they were.
    assert!(
        scim.user_named("hr-only")
            .await
            .unwrap()
            .get("externalId")
            .is_none()
    );
    assert_eq!(
        scim.user_named("hr-tagged").await.unwrap()["externalId"],
        "hr-1"
    );
    // Audited as repairs by the admin.
    let pool = app.database.pool().await;
    let (repairs,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = 'scim.drift_repaired'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(repairs, 2);

    // The scheduled dry run mails site admins once per change of the report.
    scim.request(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    let (report, mailed) = roster::usecases::provisioning::scheduled_dry_run(&app.context, "idp")
        .await
        .unwrap();
    assert_eq!(report.counts(), (1, 0, 0, 1), "{:?}", report.items);
    assert!(mailed);
    let (_, again) = roster::usecases::provisioning::scheduled_dry_run(&app.context, "idp")
        .await
        .unwrap();
    assert!(!again, "the same report is not mailed twice");
    app.deliver_mail().await;
    let notices: Vec<_> = app
        .smtp
        .messages()
        .into_iter()
        .filter(|mail| mail.subject.contains("SCIM target idp"))
        .collect();
    assert_eq!(notices.len(), 1);
    assert!(notices[0].is_to("admin@example.org"));
}

#[tokio::test]
async fn two_instances_never_push_the_same_job_twice_at_once() {
    let scim = ScimServer::start();
    let app = app_pushing_to(&scim, 60_000).await;
    let uids: Vec<String> = (0..60).map(|n| format!("twin{n:02}")).collect();
    add_directory_people(&app, &uids).await;
    for (index, chunk) in uids.chunks(10).enumerate() {
        let org = app
            .create_org(&format!("Twin {index}"), &format!("twin{index}"))
            .await;
        add_members(&app, &org, chunk).await;
    }
    app.run_jobs().await;
    let (_, second) = crate::support::app::start_instance(app.settings.clone()).await;

    let (first_ran, second_ran) = tokio::join!(
        roster::jobs::scim::run_all_due(&app.context),
        roster::jobs::scim::run_all_due(&second)
    );
    // Runs that overlapped may leave a job to the other; drain what is left.
    let rest = app.run_scim_jobs().await;
    let jobs = scim_jobs(&app).await;
    assert_eq!(
        first_ran + second_ran + rest,
        jobs.len(),
        "each job ran once"
    );
    assert!(
        jobs.iter()
            .all(|(_, status, attempts)| status == "done" && *attempts == 1),
        "{jobs:?}"
    );
    let users = scim.users().await;
    let tagged: BTreeSet<&str> = users
        .iter()
        .map(|user| user["externalId"].as_str().unwrap())
        .collect();
    assert_eq!(
        (users.len(), tagged.len()),
        (60, 60),
        "each person is one User"
    );
    assert_eq!(remote_groups(&scim).await.len(), 6);
}

#[tokio::test]
async fn deletions_and_resource_groups_follow_and_the_command_line_reconciles() {
    let scim = ScimServer::start();
    let app = app_pushing_to(&scim, 60_000).await;
    let uids: Vec<String> = ["dkeep", "dgone"].map(String::from).to_vec();
    add_directory_people(&app, &uids).await;
    let org = app.create_org("Deletions", "dels").await;
    add_members(&app, &org, &uids).await;
    app.create_resource(&org, "gpu", "cluster").await;
    app.run_jobs().await;
    app.run_scim_jobs().await;
    let both: BTreeSet<String> = uids.iter().cloned().collect();
    let groups = remote_groups(&scim).await;
    assert_eq!(groups["dels"], both);
    assert_eq!(groups["dels-gpu"], both, "the resource's access group");

    // A deleted account's User is deleted, and it leaves every group.
    let admin = app
        .staff_browser("admin@example.org", roster::domain::Role::SiteAdmin)
        .await;
    let gone = app.person_id("dgone@example.org").await;
    let form = format!("/admin/accounts/{gone}/delete");
    let response = admin.submit(&form, &form, &[("confirm", "dgone")]).await;
    assert_eq!(response.status(), 303);
    app.run_scim_jobs().await;
    assert!(scim.user_named("dgone").await.is_none());
    let keep: BTreeSet<String> = ["dkeep".to_string()].into_iter().collect();
    let groups = remote_groups(&scim).await;
    assert_eq!((&groups["dels"], &groups["dels-gpu"]), (&keep, &keep));

    // `roster scim reconcile` reports drift (exit 3), then repairs it with --apply.
    let user = scim.user_named("dkeep").await.unwrap();
    let mut edited = user.clone();
    edited["active"] = json!(false);
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    assert_eq!(scim.request(Method::PUT, &path, Some(edited)).await.0, 200);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[provisioning]\nreconcile_minutes = 0\n[[provisioning.scim]]\nname = \"idp\"\n\
         base_url = \"{}\"\nbearer_token_file = \"{}\"\n",
        scim.base_url(),
        scim.token_file().display()
    );
    let config = crate::cli::write_config(&app, dir.path(), "127.0.0.1:0", &extra);
    let run = |apply: bool| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let mut command = crate::cli::roster();
            command
                .arg("--config")
                .arg(&config)
                .args(["scim", "reconcile", "idp"]);
            if apply {
                command.arg("--apply");
            }
            command.output().unwrap()
        })
    };
    let report = run(false).await.unwrap();
    let stdout = String::from_utf8_lossy(&report.stdout).to_string();
    assert_eq!(report.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("User dkeep") && stdout.contains("differs in active"),
        "{stdout}"
    );
    let repaired = run(true).await.unwrap();
    assert_eq!(
        repaired.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&repaired.stderr)
    );
    assert_eq!(scim.user_named("dkeep").await.unwrap()["active"], true);
}

#[tokio::test]
async fn a_target_added_to_a_running_site_gets_everything_on_its_first_run() {
    let scim = ScimServer::start();
    // The site runs without the target: its changes queue nothing for it.
    let app = TestApp::spawn().await;
    let uids: Vec<String> = ["early1", "early2", "early3"].map(String::from).to_vec();
    add_directory_people(&app, &uids).await;
    let org = app.create_org("Early", "early").await;
    add_members(&app, &org, &uids).await;
    app.run_jobs().await;

    // An instance configured with it pushes everything on its first run, once.
    let token = std::fs::read_to_string(scim.token_file()).unwrap();
    let mut settings = app.settings.clone();
    let mut added = target(&scim, 60_000);
    added.bearer_token = roster::config::Secret::new(token.trim());
    settings.provisioning.scim.push(added);
    let (_, with_target) = crate::support::app::start_instance(settings.clone()).await;
    // Three Users and the Group (which may run again once its members exist).
    assert!(roster::jobs::scim::run_all_due(&with_target).await >= 4);
    assert_eq!(scim.users().await.len(), 3);
    let everyone: BTreeSet<String> = uids.iter().cloned().collect();
    assert_eq!(remote_groups(&scim).await["early"], everyone);
    let (_, another) = crate::support::app::start_instance(settings).await;
    assert_eq!(
        roster::jobs::scim::run_all_due(&another).await,
        0,
        "a second instance does not queue it all again"
    );
}

/// The initial push of 1,000 Users and 50 Groups, for `bench/scim.sh` (not a timed
/// test: it prints the figure). `ROSTER_BENCH_SCIM_RATE` sets `rate_per_minute`.
#[tokio::test]
#[ignore = "a benchmark: run by bench/scim.sh"]
async fn bench_initial_push() {
    let rate: u32 = std::env::var("ROSTER_BENCH_SCIM_RATE")
        .ok()
        .and_then(|rate| rate.parse().ok())
        .unwrap_or(60_000);
    let scim = ScimServer::start();
    let app = app_pushing_to(&scim, rate).await;
    let uids: Vec<String> = (0..1000).map(|n| format!("b{n:04}")).collect();
    add_directory_people(&app, &uids).await;
    for (index, chunk) in uids.chunks(20).enumerate() {
        let org = app
            .create_org(&format!("Bench {index}"), &format!("bench{index:02}"))
            .await;
        add_members(&app, &org, chunk).await;
    }
    app.run_jobs().await;
    let started = std::time::Instant::now();
    let ran = app.run_scim_jobs().await;
    let seconds = started.elapsed().as_secs_f64();
    let requests = scim.requests().await.len();
    assert_eq!(scim.users().await.len(), 1000);
    assert_eq!(scim.groups().await.len(), 50);
    println!("BENCH rate_per_minute={rate} jobs={ran} requests={requests} seconds={seconds:.2}");
}
