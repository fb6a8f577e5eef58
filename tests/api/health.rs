use crate::support::app::TestApp;

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = TestApp::spawn().await;
    let response = app.browser.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn readyz_names_ldap_when_slapd_is_down_and_recovers_when_it_returns() {
    let mut app = TestApp::spawn().await;

    let ready = app.browser.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["ldap"], "ok");

    app.slapd.stop();
    let down = app.browser.get("/readyz").await;
    assert_eq!(down.status(), 503);
    let body: serde_json::Value = down.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"], "ok");
    let ldap = body["ldap"].as_str().unwrap();
    assert!(ldap.starts_with("LDAP server"), "reason names LDAP: {ldap}");

    app.slapd.start_again();
    let back = app.browser.get("/readyz").await;
    assert_eq!(back.status(), 200);
}

#[tokio::test]
async fn readyz_reports_a_wrong_ldap_password_as_a_bind_failure() {
    let app = TestApp::spawn_with(|settings| {
        settings.ldap.bind_password = roster::config::Secret::new("not-the-password");
    })
    .await;
    let response = app.browser.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    let ldap = body["ldap"].as_str().unwrap();
    assert!(ldap.starts_with("LDAP bind as cn=admin"), "{ldap}");
    assert!(
        !ldap.contains("not-the-password"),
        "the password leaked: {ldap}"
    );
}
