//! `GET /metrics`: the Prometheus text format behind the metrics token, or on a loopback
//! listener of its own; counters moved by real sign-ins, activations and outbox failures.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use roster::config::Secret;

use crate::cli::{roster, write_config};
use crate::support::app::{GOOD_PASSWORD, TestApp};

const TOKEN: &str = "metrics-token-0123456789abcdef0123456789";

async fn app_with_token() -> TestApp {
    TestApp::spawn_with(|settings| settings.metrics.token = Secret::new(TOKEN)).await
}

/// Samples by series, e.g. `roster_sign_ins_total{result="ok"}` → 1.
#[derive(Debug)]
struct Samples(BTreeMap<String, f64>);

impl Samples {
    /// Reads the text format: `name{labels} value` lines, comments skipped. Series are
    /// keyed with their labels sorted by name, so tests may write them in any order.
    fn parse(text: &str) -> Samples {
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let value: f64 = value.parse().expect("a number");
            samples.insert(normalized(series), value);
        }
        Samples(samples)
    }

    fn get(&self, series: &str) -> f64 {
        self.0.get(&normalized(series)).copied().unwrap_or(0.0)
    }

    /// Whether any series of this metric name is present.
    fn has(&self, name: &str) -> bool {
        self.0
            .keys()
            .any(|series| series == name || series.starts_with(&format!("{name}{{")))
    }
}

/// `name{b="2",a="1"}` as `name{a="1",b="2"}` (no value here holds `",`).
fn normalized(series: &str) -> String {
    let Some((name, labels)) = series.split_once('{') else {
        return series.to_string();
    };
    let labels = labels.trim_end_matches('}');
    let mut pairs: Vec<String> = labels
        .split("\",")
        .map(|pair| pair.trim_end_matches('"').to_string() + "\"")
        .collect();
    pairs.sort();
    format!("{name}{{{}}}", pairs.join(","))
}

async fn scrape(app: &TestApp) -> Samples {
    let response = app
        .browser
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Samples::parse(&response.text().await.unwrap())
}

#[tokio::test]
async fn counters_move_with_sign_ins_activations_mail_and_an_ldap_outage() {
    let mut app = app_with_token().await;
    let organisation = app.create_org("Metrics Lab", "metrics").await;
    let before = scrape(&app).await;
    assert_eq!(
        before.get(&format!(
            "roster_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );

    // An activation: invitation, acceptance, account set-up, LDAP written by the outbox.
    let member = app.activated_member(&organisation, "metra").await;
    app.run_jobs().await;
    assert!(
        app.slapd
            .search_entry(&app.slapd.person_dn("metra"))
            .await
            .is_some(),
        "the account reached LDAP"
    );
    app.deliver_mail().await;

    // One sign-in with a wrong password, one right.
    let browser = app.new_browser();
    let wrong = browser
        .sign_in("metra@example.org", "not the password at all")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = browser.sign_in("metra@example.org", GOOD_PASSWORD).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);

    let after = scrape(&app).await;
    let moved = |series: &str| after.get(series) - before.get(series);
    assert_eq!(moved("roster_sign_ins_total{result=\"ok\"}"), 1.0);
    assert_eq!(
        moved("roster_sign_ins_total{result=\"bad_credentials\"}"),
        1.0
    );
    assert!(
        moved("roster_ldap_operations_total{operation=\"add\",result=\"ok\"}") >= 2.0,
        "the person's entry and private group were added: {after:?}"
    );
    assert!(moved("roster_ldap_operations_total{operation=\"modify\",result=\"ok\"}") >= 1.0);
    assert!(moved("roster_ldap_operations_total{operation=\"search\",result=\"ok\"}") >= 1.0);
    // The invitation mail (sent before the first scrape is not counted twice) and more.
    assert!(moved("roster_mail_messages_total{outcome=\"sent\"}") >= 1.0);
    assert_eq!(
        after.get("roster_outbox_jobs{target=\"ldap\",state=\"pending\"}"),
        0.0
    );
    assert_eq!(
        after.get("roster_outbox_jobs{target=\"mail\",state=\"pending\"}"),
        0.0
    );
    assert!(after.get("roster_password_hash_wait_seconds_count") >= 2.0);
    assert!(after.has("roster_password_hash_queue_depth"));
    assert!(after.get("roster_database_pool_connections") >= 1.0);
    assert!(after.has("roster_database_pool_idle_connections"));
    // The histogram is labelled by the route pattern and the status class.
    assert_eq!(
        moved(
            "roster_http_request_duration_seconds_count{route=\"/sign-in\",method=\"POST\",status=\"4xx\"}"
        ),
        1.0
    );
    assert_eq!(
        moved(
            "roster_http_request_duration_seconds_count{route=\"/sign-in\",method=\"POST\",status=\"3xx\"}"
        ),
        1.0
    );
    assert!(
        after.get(
            "roster_http_request_duration_seconds_count{route=\"/invitations/{token}\",method=\"GET\",status=\"2xx\"}"
        ) >= 1.0
    );
    assert!(
        !after
            .0
            .keys()
            .any(|series| series.contains("/invitations/") && !series.contains("{token}")),
        "a raw path became a label"
    );

    // With slapd gone, a change queues LDAP work that cannot be applied: the binds fail
    // as an outage and the job waits, with its age.
    app.slapd.stop();
    let rename = member
        .submit(
            "/account",
            "/account/name",
            &[("given_name", "Meta"), ("surname", "Renamed")],
        )
        .await;
    assert!(rename.status().is_redirection(), "{}", rename.status());
    app.run_jobs().await;
    app.context.clock.advance(90);
    let down = scrape(&app).await;
    assert!(
        down.get("roster_ldap_operations_total{operation=\"bind\",result=\"outage\"}")
            - after.get("roster_ldap_operations_total{operation=\"bind\",result=\"outage\"}")
            >= 1.0,
        "{down:?}"
    );
    assert!(down.get("roster_outbox_jobs{target=\"ldap\",state=\"pending\"}") >= 1.0);
    assert!(
        down.get("roster_outbox_oldest_pending_age_seconds{target=\"ldap\"}") >= 90.0,
        "{down:?}"
    );
    app.slapd.start_again();
}

#[tokio::test]
async fn no_token_or_a_wrong_one_gets_401_and_no_metric() {
    let app = app_with_token().await;
    let url = format!("{}/metrics", app.address);
    let client = &app.browser.client;

    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"roster\""
    );
    assert_eq!(
        anonymous.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body = anonymous.text().await.unwrap();
    assert!(!body.contains("roster_"), "{body}");
    assert!(body.contains("metrics token"), "{body}");

    let wrong = client
        .get(&url)
        .bearer_auth(format!("{TOKEN}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"roster\", error=\"invalid_token\"")
    );
    let body = wrong.text().await.unwrap();
    assert!(!body.contains("roster_"), "{body}");

    // The scheme is case-insensitive (RFC 9110 §11.1), as for the API.
    let lowercase = client
        .get(&url)
        .header("Authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase.status(), StatusCode::OK);

    // A signed-in site admin's session is no token either.
    app.signed_in_admin("metrics-admin@example.org").await;
    let session = app.browser.get("/metrics").await;
    assert_eq!(session.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_metrics_settings_the_main_port_has_no_metrics() {
    let app = TestApp::spawn().await;
    let response = app.browser.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = response.text().await.unwrap();
    assert!(!body.contains("roster_"), "{body}");
}

#[tokio::test]
async fn the_metrics_listener_serves_without_a_token_and_the_main_port_still_refuses() {
    let app = app_with_token().await;
    // A second instance on the same database, with a listener of its own for metrics.
    let mut settings = app.settings.clone();
    settings.server.listen = "127.0.0.1:0".into();
    settings.metrics.listen = Some("127.0.0.1:0".into());
    let built = roster::startup::Application::build(settings)
        .await
        .expect("builds");
    let main = format!("http://127.0.0.1:{}", built.port());
    let metrics = format!(
        "http://127.0.0.1:{}",
        built.metrics_port().expect("a metrics listener")
    );
    let handle = built.handle();
    tokio::spawn(built.run_until_stopped());
    let client = &app.browser.client;

    let served = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let samples = Samples::parse(&served.text().await.unwrap());
    assert!(samples.has("roster_build_info"));
    assert!(samples.has("roster_outbox_jobs"));

    // Only /metrics there: nothing of the portal.
    let other = client
        .get(format!("{metrics}/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    let anonymous = client.get(format!("{main}/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    handle.stop(false).await;
}

#[tokio::test]
async fn a_metrics_listener_that_is_not_loopback_stops_start_up_naming_the_setting() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &app,
        dir.path(),
        "127.0.0.1:0",
        "\n[metrics]\nlisten = \"0.0.0.0:9464\"\n",
    );
    let output = roster()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("metrics.listen"), "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[tokio::test]
async fn a_short_metrics_token_is_refused() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metrics-token"), "short\n").unwrap();
    let extra = format!(
        "\n[metrics]\ntoken_file = \"{}\"\n",
        dir.path().join("metrics-token").display()
    );
    let config = write_config(&app, dir.path(), "127.0.0.1:0", &extra);
    let output = roster()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("metrics.token_file"), "{stderr}");
}

#[tokio::test]
async fn a_sign_in_past_the_limit_counts_as_rate_limited() {
    let app = TestApp::spawn_with(|settings| {
        settings.metrics.token = Secret::new(TOKEN);
        settings.security.signin_attempts_per_ip_per_minute = 1;
    })
    .await;
    let before = scrape(&app).await;
    let browser = app.new_browser();
    let first = browser
        .sign_in("nobody@example.org", "wrong password")
        .await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let second = browser
        .sign_in("nobody@example.org", "wrong password")
        .await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);

    let after = scrape(&app).await;
    let moved = |series: &str| after.get(series) - before.get(series);
    assert_eq!(
        moved("roster_rate_limit_refusals_total{limiter=\"sign_in\"}"),
        1.0
    );
    assert_eq!(moved("roster_sign_ins_total{result=\"rate_limited\"}"), 1.0);
    assert_eq!(
        moved("roster_sign_ins_total{result=\"bad_credentials\"}"),
        1.0
    );
}

#[tokio::test]
async fn an_api_request_past_the_clients_limit_counts_as_an_api_refusal() {
    use crate::support::api::{api_request, request_token};
    let app = TestApp::spawn_with(|settings| {
        settings.metrics.token = Secret::new(TOKEN);
        settings.api.rate_per_minute = 2;
    })
    .await;
    let astro = app.create_org("Astro", "astro").await;
    let credentials = app.api_client(Some(&astro), &["org.view"]).await;
    // At the start of a minute, so the window cannot roll over during the test.
    let into_minute = app.context.clock.now().rem_euclid(60);
    app.context.clock.advance(60 - into_minute + 1);
    let before = scrape(&app).await;

    let token = request_token(&app.address, &credentials, None).await;
    assert_eq!(token.status(), StatusCode::OK);
    let token: serde_json::Value = token.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let response = api_request(
            &app.address,
            reqwest::Method::GET,
            "/api/v1/orgs/astro",
            &token,
            None,
            &[],
        )
        .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 429]);

    let after = scrape(&app).await;
    let moved = |series: &str| after.get(series) - before.get(series);
    assert_eq!(
        moved("roster_rate_limit_refusals_total{limiter=\"api\"}"),
        1.0
    );
    assert_eq!(
        moved(
            "roster_http_request_duration_seconds_count{route=\"/api/v1/orgs/{short}\",method=\"GET\",status=\"4xx\"}"
        ),
        1.0,
        "{after:?}"
    );
}

#[tokio::test]
async fn a_mail_the_server_refuses_counts_as_failed_and_stays_in_the_outbox() {
    use roster::domain::{Email, PersonName, Role};
    use roster::usecases::invitations::{InvitationRequest, create_invitation};
    let app = app_with_token().await;
    let organisation = app.create_org("Mail Lab", "maillab").await;
    app.smtp.refuse("ghost@example.org");
    let before = scrape(&app).await;

    create_invitation(
        &app.context,
        InvitationRequest {
            email: Email::parse("ghost@example.org").unwrap(),
            surname: PersonName::parse("surname", "Ghost").unwrap(),
            given_name: None,
            role: Role::Member,
            organisation_id: Some(&organisation.id),
            organisation_name: Some(&organisation.name),
            inviter: roster::usecases::Actor::CommandLine,
            may_grant_manager: true,
            client_ip: None,
            ends_on: None,
            message: None,
        },
    )
    .await
    .unwrap();
    app.deliver_mail().await;

    let after = scrape(&app).await;
    let moved = |series: &str| after.get(series) - before.get(series);
    assert_eq!(moved("roster_mail_messages_total{outcome=\"failed\"}"), 1.0);
    assert_eq!(moved("roster_mail_messages_total{outcome=\"sent\"}"), 0.0);
    assert_eq!(
        after.get("roster_outbox_jobs{target=\"mail\",state=\"failed\"}"),
        1.0
    );
    assert_eq!(
        after.get("roster_outbox_jobs{target=\"mail\",state=\"pending\"}"),
        0.0
    );
}
