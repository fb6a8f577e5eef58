//! Running `roster serve` as a service does: JSON logs for a collector, a consistent
//! backup while it serves, SIGTERM losing nothing, and start-up checks naming the setting.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use roster::domain::Role;

use crate::cli::{roster, write_config};
use crate::support::api::request_token;
use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, location};
use crate::support::free_port;

/// A `roster serve` process on its own port, its stderr kept in a file.
struct Served {
    child: Option<Child>,
    base: String,
    log: PathBuf,
}

impl Served {
    fn start(config: &Path, port: u16, log: PathBuf, env: &[(&str, &str)]) -> Served {
        let stderr = std::fs::File::create(&log).unwrap();
        let mut command = roster();
        command
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(stderr);
        for (name, value) in env {
            command.env(name, value);
        }
        Served {
            child: Some(command.spawn().unwrap()),
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    async fn until_healthy(&self) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(response) = client.get(format!("{}/healthz", self.base)).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        unreachable!("roster serve did not answer /healthz within 30 s:\n{log}");
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM, as systemd's stop does.
    fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end; returns its exit code and how long it took.
    async fn exited(&mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let mut child = self.child.take().unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        (status.code(), started.elapsed())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The portal's link for the served process instead of the test app.
fn served_link(app: &TestApp, served: &Served, link: &str) -> String {
    link.replacen(&app.address, &served.base, 1)
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_fields_and_no_secret() {
    let app = TestApp::spawn().await;
    let organisation = app.create_org("Astrophysics", "astro").await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(&app, dir.path(), &format!("127.0.0.1:{port}"), "");
    // Set through the environment, as a unit file's Environment= would.
    let mut served = Served::start(
        &config,
        port,
        dir.path().join("serve.log"),
        &[("ROSTER_LOG", "info"), ("ROSTER_LOG__FORMAT", "json")],
    );
    served.until_healthy().await;

    // An activation, sign-ins good and bad, a page that does not exist, and an API call.
    let link = app
        .invite_to(&organisation, "ada@example.org", "Lovelace", Role::Member)
        .await;
    let invitation_token = link.rsplit('/').next().unwrap().to_string();
    let browser = Browser::new(&served.base);
    let accepted = browser
        .accept_invitation(&served_link(&app, &served, &link), GOOD_PASSWORD)
        .await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    let done = browser.set_up_account("ada").await;
    assert_eq!(location(&done), "/?welcome=account");
    let csrf_token = browser.page("/").await.csrf_token();
    let session_cookie = browser.cookies();
    assert!(!session_cookie.is_empty());
    let stranger = Browser::new(&served.base);
    assert_eq!(
        stranger
            .sign_in("ada@example.org", "not the password at all")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stranger.get("/no/such/page").await.status(),
        StatusCode::NOT_FOUND
    );
    let credentials = app.api_client(None, &["directory.search"]).await;
    let response = request_token(&served.base, &credentials, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_string();
    let people = reqwest::Client::new()
        .get(format!("{}/api/v1/people?q=lovelace", served.base))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(people.status(), StatusCode::OK);

    served.terminate();
    let (code, _) = served.exited().await;
    assert_eq!(code, Some(0), "{}", served.log_text());

    let log = served.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| unreachable!("a log line is not JSON ({error}): {line}"))
        })
        .collect();
    assert!(lines.len() > 10, "{log}");
    for secret in [
        invitation_token.as_str(),
        GOOD_PASSWORD,
        "not the password at all",
        csrf_token.as_str(),
        access_token.as_str(),
        credentials.secret.as_str(),
    ] {
        assert!(!log.contains(secret), "the log holds a secret: {secret}");
    }
    for cookie in session_cookie.split("; ") {
        let value = cookie.split_once('=').unwrap().1;
        assert!(!log.contains(value), "the log holds a cookie: {cookie}");
    }
    let served_lines: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["message"] == "served")
        .collect();
    let line_for = |route: &str, status: u64| {
        served_lines
            .iter()
            .find(|line| line["route"] == route && line["status"] == status)
            .unwrap_or_else(|| unreachable!("no access line for {route} {status}:\n{log}"))
    };
    let confirmed = line_for("/account/setup/confirm", 303);
    assert_eq!(confirmed["level"], "INFO");
    assert!(confirmed["timestamp"].is_string());
    assert!(!confirmed["request_id"].as_str().unwrap().is_empty());
    assert!(confirmed["latency_ms"].as_f64().unwrap() >= 0.0);
    let person_id = app.person_id("ada@example.org").await;
    assert_eq!(confirmed["actor"], format!("person:{person_id}"));
    assert_eq!(
        line_for("/api/v1/people", 200)["actor"],
        format!("client:{}", credentials.id)
    );
    // The invitation's route is its pattern, never the link with its token.
    line_for("/invitations/{token}", 303);
    assert!(line_for("(no route)", 404)["actor"].is_null());
}

/// How far one person's activation got before the portal stopped answering.
#[derive(Debug, PartialEq)]
enum Reached {
    Nothing,
    Accepted,
    Activated,
}

/// Accepts the invitation (a bcrypt hash) and sets up the POSIX account, as a browser
/// does, stopping at the first request the portal does not answer.
async fn activate(base: String, link: String, username: String, done: Arc<AtomicUsize>) -> Reached {
    let browser = Browser::new(&base);
    let send = |request: reqwest::RequestBuilder| async move { request.send().await.ok() };
    let form_token = |html: String| {
        let document = scraper::Html::parse_document(&html);
        let input = scraper::Selector::parse("input[name=csrf_token]").unwrap();
        document
            .select(&input)
            .next()
            .and_then(|input| input.value().attr("value"))
            .unwrap_or_default()
            .to_string()
    };
    let Some(page) = send(browser.client.get(&link)).await else {
        return Reached::Nothing;
    };
    let Ok(html) = page.text().await else {
        return Reached::Nothing;
    };
    let token = form_token(html);
    let accepted = send(browser.client.post(&link).form(&[
        ("csrf_token", token.as_str()),
        ("password", GOOD_PASSWORD),
        ("password_confirmation", GOOD_PASSWORD),
    ]))
    .await;
    if accepted.map(|response| response.status()) != Some(StatusCode::SEE_OTHER) {
        return Reached::Nothing;
    }
    let fields = [
        ("username", username.as_str()),
        ("login_shell", "/bin/bash"),
    ];
    let Some(setup) = send(browser.client.get(format!("{base}/account/setup"))).await else {
        return Reached::Accepted;
    };
    let Ok(html) = setup.text().await else {
        return Reached::Accepted;
    };
    let mut form = vec![("csrf_token", form_token(html))];
    form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    let Some(review) = send(
        browser
            .client
            .post(format!("{base}/account/setup"))
            .form(&form),
    )
    .await
    else {
        return Reached::Accepted;
    };
    let Ok(html) = review.text().await else {
        return Reached::Accepted;
    };
    form[0].1 = form_token(html);
    let confirmed = send(
        browser
            .client
            .post(format!("{base}/account/setup/confirm"))
            .form(&form),
    )
    .await;
    match confirmed {
        Some(response) if location(&response) == "/?welcome=account" => {
            done.fetch_add(1, Ordering::SeqCst);
            Reached::Activated
        }
        _ => Reached::Accepted,
    }
}

#[tokio::test]
async fn sigterm_during_a_batch_of_activations_loses_none_of_them() {
    const PEOPLE: usize = 16;
    let app = TestApp::spawn().await;
    let organisation = app.create_org("Astrophysics", "astro").await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(&app, dir.path(), &format!("127.0.0.1:{port}"), "");
    let mut served = Served::start(&config, port, dir.path().join("first.log"), &[]);
    served.until_healthy().await;
    let mut links = Vec::new();
    for i in 0..PEOPLE {
        let email = format!("p{i}@example.org");
        let link = app
            .invite_to(&organisation, &email, "Person", Role::Member)
            .await;
        links.push(served_link(&app, &served, &link));
    }

    let done = Arc::new(AtomicUsize::new(0));
    let activations: Vec<_> = links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            tokio::spawn(activate(
                served.base.clone(),
                link.clone(),
                format!("p{i}"),
                done.clone(),
            ))
        })
        .collect();
    // Stop the portal while the batch is under way, as systemd's stop would.
    let started = Instant::now();
    while done.load(Ordering::SeqCst) < 2 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    served.terminate();
    let (code, took) = served.exited().await;
    assert_eq!(code, Some(0), "{}", served.log_text());
    assert!(took < Duration::from_secs(30), "stopping took {took:?}");
    let mut reached = Vec::new();
    for activation in activations {
        reached.push(activation.await.unwrap());
    }
    eprintln!("before SIGTERM's stop: {reached:?}");

    // Every activation the portal confirmed is written to LDAP or waits in the outbox.
    let pending: Vec<String> = app
        .context
        .store
        .pending_jobs(1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.subject_id)
        .collect();
    for (i, reached) in reached.iter().enumerate() {
        if *reached != Reached::Activated {
            continue;
        }
        let person_id = app.person_id(&format!("p{i}@example.org")).await;
        let in_ldap = app
            .slapd
            .search_entry(&app.slapd.person_dn(&format!("p{i}")))
            .await
            .is_some();
        assert!(
            in_ldap || pending.contains(&person_id),
            "p{i}'s activation is neither in LDAP nor in the outbox"
        );
    }

    // After a restart the outbox catches up, and the activations cut short can finish:
    // nothing was left half-written (a name taken without its account, say).
    let mut served = Served::start(&config, port, dir.path().join("second.log"), &[]);
    served.until_healthy().await;
    for (i, reached) in reached.iter().enumerate() {
        let username = format!("p{i}");
        let browser = Browser::new(&served.base);
        let email = format!("p{i}@example.org");
        match reached {
            Reached::Activated => continue,
            Reached::Accepted => {
                assert_eq!(
                    browser.sign_in(&email, GOOD_PASSWORD).await.status(),
                    StatusCode::SEE_OTHER
                );
            }
            Reached::Nothing => {
                assert_eq!(
                    browser
                        .accept_invitation(&links[i], GOOD_PASSWORD)
                        .await
                        .status(),
                    StatusCode::SEE_OTHER,
                    "p{i}'s invitation can still be accepted"
                );
            }
        }
        let done = browser.set_up_account(&username).await;
        assert_eq!(
            location(&done),
            "/?welcome=account",
            "p{i} after the restart"
        );
    }
    app.assert_directory_settled().await;
    for i in 0..PEOPLE {
        assert!(
            app.slapd
                .can_bind(&app.slapd.person_dn(&format!("p{i}")), GOOD_PASSWORD)
                .await,
            "p{i} binds"
        );
    }
    served.terminate();
    assert_eq!(served.exited().await.0, Some(0));
}

/// `roster` with `args`, on the database `database_url` instead of the config's.
async fn roster_on(config: &Path, database_url: &str, args: &[&str]) -> std::process::Output {
    let mut command = roster();
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("ROSTER_DATABASE__URL", database_url);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// What a snapshot holds: (people with an account, their `account.created` events,
/// memberships, pending jobs naming a person who has no account).
async fn snapshot_facts(file: &Path) -> (i64, i64, i64, i64) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .unwrap();
    let facts = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM people WHERE uid_number IS NOT NULL), \
         (SELECT COUNT(*) FROM audit_events WHERE action = 'account.created'), \
         (SELECT COUNT(*) FROM memberships), \
         (SELECT COUNT(*) FROM jobs j JOIN people p ON p.id = j.subject_id \
            WHERE j.status = 'pending' AND p.uid_number IS NULL)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    facts
}

#[tokio::test]
async fn a_backup_during_activations_is_consistent_and_a_restore_never_moves_counters_back() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let database_url = app.settings.database.url.expose().to_string();
    let backup = |n: usize| dir.path().join(format!("backup-{n}.db"));
    if database_url.starts_with("postgres") {
        let output = roster_on(
            &config,
            &database_url,
            &["backup", backup(0).to_str().unwrap()],
        )
        .await;
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("database.url") && stderr.contains("pg_dump"),
            "{stderr}"
        );
        assert!(!backup(0).exists());
        return;
    }
    const PEOPLE: usize = 24;
    let organisation = app.create_org("Astrophysics", "astro").await;
    let mut links = Vec::new();
    for i in 0..PEOPLE {
        let email = format!("p{i}@example.org");
        links.push(
            app.invite_to(&organisation, &email, "Person", Role::Member)
                .await,
        );
    }
    let pool = app.database.pool().await;
    let counters_before: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, next_value FROM id_counters ORDER BY kind")
            .fetch_all(&pool)
            .await
            .unwrap();

    // A stream of activations, three at a time, paced so that backups fall inside it;
    // backups one after another until it has ended.
    let done = Arc::new(AtomicUsize::new(0));
    let lanes: Vec<_> = (0..3)
        .map(|lane| {
            let lane_links: Vec<(usize, String)> = links
                .iter()
                .cloned()
                .enumerate()
                .filter(|(i, _)| i % 3 == lane)
                .collect();
            let (address, done) = (app.address.clone(), done.clone());
            tokio::spawn(async move {
                for (i, link) in lane_links {
                    let reached = activate(address.clone(), link, format!("p{i}"), done.clone());
                    assert_eq!(reached.await, Reached::Activated);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        })
        .collect();
    let mut taken = Vec::new();
    loop {
        let stream_ended = lanes.iter().all(|lane| lane.is_finished());
        let file = backup(taken.len());
        let output = roster_on(&config, &database_url, &["backup", file.to_str().unwrap()]).await;
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains("backup written to"), "{stderr}");
        taken.push(file);
        if stream_ended {
            break;
        }
    }
    for lane in lanes {
        lane.await.unwrap();
    }

    // Each snapshot is a moment between two units of work: every account has its audit
    // event, every membership is whole, and no job names a person without an account.
    let mut accounts_seen = Vec::new();
    for file in &taken {
        let (accounts, created_events, memberships, orphan_jobs) = snapshot_facts(file).await;
        assert_eq!(accounts, created_events, "{}", file.display());
        // People join at acceptance, before they set up an account.
        assert!(memberships >= accounts, "{}", file.display());
        assert_eq!(orphan_jobs, 0);
        assert!((0..=i64::try_from(PEOPLE).unwrap()).contains(&accounts));
        accounts_seen.push(accounts);
        let url = format!("sqlite://{}", file.display());
        let migrated = roster_on(&config, &url, &["migrate"]).await;
        assert!(
            migrated.status.success(),
            "{}",
            String::from_utf8_lossy(&migrated.stderr)
        );
    }
    eprintln!("accounts in the backups: {accounts_seen:?} of {PEOPLE}");
    assert!(
        accounts_seen
            .iter()
            .any(|accounts| (1..i64::try_from(PEOPLE).unwrap()).contains(accounts)),
        "no backup fell inside the stream: {accounts_seen:?}"
    );
    assert_eq!(accounts_seen.last(), Some(&i64::try_from(PEOPLE).unwrap()));
    assert!(
        accounts_seen.windows(2).all(|pair| pair[0] <= pair[1]),
        "{accounts_seen:?}"
    );

    // Refused: an existing file is never overwritten, and a file that is no database.
    let again = roster_on(
        &config,
        &database_url,
        &["backup", taken[0].to_str().unwrap()],
    )
    .await;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let live = dir.path().join("live.db");
    let live_url = format!("sqlite://{}", live.display());
    assert!(
        roster_on(&config, &database_url, &["backup", live.to_str().unwrap()])
            .await
            .status
            .success()
    );
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    let refused = roster_on(&config, &live_url, &["restore", junk.to_str().unwrap()]).await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Restoring the first backup over a copy of the live database keeps its counters.
    let counters_live: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, next_value FROM id_counters ORDER BY kind")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_ne!(counters_live, counters_before);
    let restored = roster_on(&config, &live_url, &["restore", taken[0].to_str().unwrap()]).await;
    let stderr = String::from_utf8_lossy(&restored.stderr).to_string();
    assert!(restored.status.success(), "{stderr}");
    assert!(stderr.contains("roster reconcile"), "{stderr}");
    let (accounts, ..) = snapshot_facts(&live).await;
    assert_eq!(accounts, accounts_seen[0]);
    let restored_pool = sqlx::SqlitePool::connect(&live_url).await.unwrap();
    let counters_after: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, next_value FROM id_counters ORDER BY kind")
            .fetch_all(&restored_pool)
            .await
            .unwrap();
    restored_pool.close().await;
    assert_eq!(counters_after, counters_live);
}

/// The log's lines that mention `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(needle)).collect()
}

/// Waits until the served portal's log mentions `needle` (the start-up checks run beside
/// serving).
async fn until_logged(served: &Served, needle: &str) {
    let started = Instant::now();
    while !served.log_text().contains(needle) && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_missing_base_dn_and_a_silent_relay_are_one_warning_each_and_the_portal_serves() {
    let mut app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(&app, dir.path(), &format!("127.0.0.1:{port}"), "");
    app.smtp.stop();
    let people_dn = format!("ou=nobody,{}", app.slapd.base_dn());
    let mut served = Served::start(
        &config,
        port,
        dir.path().join("serve.log"),
        &[("ROSTER_LDAP__PEOPLE_DN", people_dn.as_str())],
    );
    served.until_healthy().await;
    until_logged(&served, "mail.smtp_host").await;
    served.terminate();
    assert_eq!(served.exited().await.0, Some(0));
    let log = served.log_text();
    let people = lines_with(&log, "ldap.people_dn");
    assert_eq!(people.len(), 1, "{log}");
    assert!(
        people[0].contains("WARN") && people[0].contains(&people_dn),
        "{log}"
    );
    let relay = lines_with(&log, "mail.smtp_host");
    assert_eq!(relay.len(), 1, "{log}");
    assert!(
        relay[0].contains("WARN") && relay[0].contains("waits in the outbox"),
        "{log}"
    );
    // The bases that exist are not mentioned.
    assert!(lines_with(&log, "ldap.base_dn").is_empty(), "{log}");
    assert!(lines_with(&log, "ldap.groups_dn").is_empty(), "{log}");
}

#[tokio::test]
async fn an_unreachable_ldap_server_is_one_warning_naming_ldap_url_and_the_portal_serves() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(&app, dir.path(), &format!("127.0.0.1:{port}"), "");
    let nowhere = format!("ldap://127.0.0.1:{}", free_port());
    let mut served = Served::start(
        &config,
        port,
        dir.path().join("serve.log"),
        &[("ROSTER_LDAP__URL", nowhere.as_str())],
    );
    served.until_healthy().await;
    until_logged(&served, "ldap.url").await;
    let browser = Browser::new(&served.base);
    assert_eq!(
        browser.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    served.terminate();
    assert_eq!(served.exited().await.0, Some(0));
    let log = served.log_text();
    let warnings = lines_with(&log, "ldap.url");
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains("wait in the outbox"),
        "{log}"
    );
}

#[tokio::test]
async fn a_database_that_cannot_be_written_stops_start_up_with_one_line_naming_database_url() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let url = app.settings.database.url.expose().to_string();
    let read_only = if url.starts_with("postgres") {
        // A role that may read every table and write none.
        let database = url.rsplit('/').next().unwrap().split('?').next().unwrap();
        let role = format!("ro_{database}");
        let pool = app.database.pool().await;
        for statement in [
            format!("CREATE ROLE {role} LOGIN"),
            format!("GRANT CONNECT ON DATABASE {database} TO {role}"),
            format!("GRANT USAGE ON SCHEMA public TO {role}"),
            format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await
                .unwrap();
        }
        url.replacen("://postgres@", &format!("://{role}@"), 1)
    } else {
        url.replace("mode=rwc", "mode=ro")
    };
    assert_ne!(read_only, url);
    let started = Instant::now();
    let output = roster_on(&config, &read_only, &["serve"]).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    eprintln!("start-up refused: {}", lines[0]);
    assert!(
        lines[0].starts_with("error: database.url: ")
            && (lines[0].contains("cannot be written") || lines[0].contains("migrations")),
        "{stderr}"
    );
    assert!(
        !lines[0].contains(&url),
        "the URL may hold a password: {stderr}"
    );
}
