//! Resources through the API: creating within what a client may, ETags and If-Match,
//! the access list, the access check a device gateway makes, and the token's `resources`
//! claim; LDAP follows every change.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::api::{api_request, header};
use crate::support::app::TestApp;

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let response = api_request(&app.address, method, path, token, body, headers).await;
    let status = response.status().as_u16();
    let tag = header(&response, "etag");
    let body = response.json().await.unwrap_or(Value::Null);
    (status, tag, body)
}

async fn ldap_members(app: &TestApp, group: &str) -> Vec<String> {
    app.run_jobs().await;
    let entry = app
        .slapd
        .search_entry(&format!("cn={group},ou=resources,dc=example,dc=org"))
        .await
        .unwrap();
    let mut uids = entry.attrs.get("memberUid").cloned().unwrap_or_default();
    uids.sort();
    uids
}

#[tokio::test]
async fn a_gateway_checks_access_and_a_script_manages_a_device() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let bio = app.create_org("Bio", "bio").await;
    app.activated_member(&astro, "mia").await;
    app.activated_member(&astro, "tom").await;
    app.activated_member(&bio, "olga").await;
    let manager = app
        .api_token(Some(&astro), &["resources.read", "resources.manage"])
        .await;

    // An organisation's client may create a device, not a cluster.
    let (status, _, problem) = call(
        &app,
        Method::POST,
        "/api/v1/orgs/astro/resources",
        &manager,
        Some(&json!({"short_name": "hpc", "name": "HPC", "kind": "cluster"})),
        &[],
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    let (status, tag, created) = call(
        &app,
        Method::POST,
        "/api/v1/orgs/astro/resources",
        &manager,
        Some(&json!({"short_name": "scope", "name": "Microscope", "kind": "device", "site": "Lab 2"})),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["group"], "astro-scope");
    assert_eq!(tag, "\"1\"");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(ldap_members(&app, "astro-scope").await, ["mia", "tom"]);
    // The same short name again, a reserved one, a bad kind.
    for (body, status) in [
        (
            json!({"short_name": "scope", "name": "Again", "kind": "device"}),
            409,
        ),
        (
            json!({"short_name": "root", "name": "Root", "kind": "device"}),
            422,
        ),
        (
            json!({"short_name": "x", "name": "X", "kind": "spaceship"}),
            422,
        ),
    ] {
        let (got, _, problem) = call(
            &app,
            Method::POST,
            "/api/v1/orgs/astro/resources",
            &manager,
            Some(&body),
            &[],
        )
        .await;
        assert_eq!(got, status, "{body}: {problem}");
    }

    // Restrict it and list tom, under If-Match.
    let path = format!("/api/v1/resources/{id}");
    let (status, _, _) = call(
        &app,
        Method::GET,
        &path,
        &manager,
        None,
        &[("If-None-Match", &tag)],
    )
    .await;
    assert_eq!(status, 304);
    let restrict = json!({"restricted": true});
    let (status, _, _) = call(&app, Method::PATCH, &path, &manager, Some(&restrict), &[]).await;
    assert_eq!(status, 428);
    let (status, tag, body) = call(
        &app,
        Method::PATCH,
        &path,
        &manager,
        Some(&restrict),
        &[("If-Match", "\"1\"")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["restricted"], true);
    assert_eq!(
        ldap_members(&app, "astro-scope").await,
        Vec::<String>::new()
    );
    let list = format!("{path}/access-list");
    let (status, _, _) = call(
        &app,
        Method::PUT,
        &list,
        &manager,
        Some(&json!({"usernames": ["tom"]})),
        &[("If-Match", "\"1\"")],
    )
    .await;
    assert_eq!(status, 412, "a stale version");
    let (status, _, problem) = call(
        &app,
        Method::PUT,
        &list,
        &manager,
        Some(&json!({"usernames": ["tom", "olga"]})),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(status, 422, "olga is not a member: {problem}");
    assert_eq!(problem["errors"][0]["index"], 1);
    let (status, tag, _) = call(
        &app,
        Method::PUT,
        &list,
        &manager,
        Some(&json!({"usernames": ["tom"]})),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ldap_members(&app, "astro-scope").await, ["tom"]);
    let (status, _, body) = call(
        &app,
        Method::PATCH,
        &path,
        &manager,
        Some(&json!({"assigned_to": "mia"})),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["assigned_to"], "mia");
    let (status, _, body) = call(
        &app,
        Method::PATCH,
        &path,
        &manager,
        Some(&json!({"name": "Confocal microscope", "site": "Lab 3"})),
        &[("If-Match", "\"4\"")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Confocal microscope");
    assert_eq!(body["site"], "Lab 3");
    assert_eq!(body["description"], "");
    assert_eq!(ldap_members(&app, "astro-scope").await, ["mia", "tom"]);
    // Retiring is a site admin's.
    let (status, _, _) = call(
        &app,
        Method::PATCH,
        &path,
        &manager,
        Some(&json!({"status": "retired"})),
        &[("If-Match", "\"5\"")],
    )
    .await;
    assert_eq!(status, 403);

    // The gateway's check, with a read-only token.
    let gateway = app.api_token(Some(&astro), &["resources.read"]).await;
    for (username, allowed, reason) in [
        ("tom", true, "listed"),
        ("mia", true, "assigned"),
        ("olga", false, "not a member"),
        ("nobody", false, "not a member"),
    ] {
        let (status, _, answer) = call(
            &app,
            Method::GET,
            &format!("{path}/access?username={username}"),
            &gateway,
            None,
            &[],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            answer,
            json!({"allowed": allowed, "reason": reason}),
            "{username}"
        );
    }
    // Another organisation's client cannot see it at all.
    let foreign = app.api_token(Some(&bio), &["resources.read"]).await;
    let (status, _, _) = call(
        &app,
        Method::GET,
        &format!("{path}/access?username=tom"),
        &foreign,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 404);

    // The token names the organisation's resources in use.
    let credentials = app.api_client(Some(&astro), &["resources.read"]).await;
    let token = app.token_for(&credentials).await;
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["resources"], json!(["scope"]));
}
