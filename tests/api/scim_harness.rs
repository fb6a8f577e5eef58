//! The SCIM test harness itself: a real scim2-server behind the fault-injecting proxy,
//! which forwards and records requests, and answers 429 or hangs without reaching the
//! server when told to.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::scim::{ProxyMode, ScimServer};

fn user(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": format!("roster-{user_name}"),
        "active": true,
    })
}

/// A POST of a User through the proxy, as Roster would send it.
async fn post_user(scim: &ScimServer, token: &str, user_name: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/Users", scim.base_url()))
        .bearer_auth(token)
        .header("Content-Type", "application/scim+json")
        .body(user(user_name).to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_user_posted_through_the_proxy_reaches_the_server_and_is_recorded() {
    let scim = ScimServer::start();
    assert_eq!(
        std::fs::read_to_string(scim.token_file()).unwrap(),
        scim.token()
    );

    let response = post_user(&scim, scim.token(), "amueller").await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/", scim.base_url())),
        "Location is on the proxy's address: {location}"
    );
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();

    let users = scim.users().await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["userName"], "amueller");
    assert_eq!(users[0]["id"], id);
    let found = scim.user_named("amueller").await.unwrap();
    assert_eq!(found["externalId"], "roster-amueller");
    assert!(scim.user_named("nobody").await.is_none());

    let requests = scim.requests().await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/Users");
    assert_eq!(requests[0].status, 201);

    // A wrong token is refused by the server, and recorded as such.
    let refused = post_user(&scim, "wrong-token", "intruder").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(scim.requests().await.last().unwrap().status, 401);

    // Out-of-band changes go straight to the server, unrecorded.
    let (status, group) = scim
        .request(
            reqwest::Method::POST,
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "astro",
                "members": [{"value": id}],
            })),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(scim.groups().await.len(), 1);
    let astro = scim.group_named("astro").await.unwrap();
    assert_eq!(astro["members"][0]["value"], id);
    let (status, body) = scim
        .request(reqwest::Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!((status, body), (204, Value::Null));
    assert!(scim.users().await.is_empty());
    assert_eq!(scim.requests().await.len(), 2);

    scim.clear_requests().await;
    assert!(scim.requests().await.is_empty());
}

#[tokio::test]
async fn too_many_requests_mode_answers_429_without_reaching_the_server_until_pass_again() {
    let scim = ScimServer::start();
    scim.set_mode(ProxyMode::TooManyRequests {
        retry_after_seconds: 42,
    })
    .await;

    let response = post_user(&scim, scim.token(), "amueller").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "42");
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["status"], "429");
    assert_eq!(
        error["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert!(scim.users().await.is_empty(), "nothing reached the server");
    let requests = scim.requests().await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].status, 429);

    scim.set_mode(ProxyMode::Pass).await;
    let response = post_user(&scim, scim.token(), "amueller").await;
    assert_eq!(response.status(), 201);
    assert_eq!(scim.users().await.len(), 1);
    let statuses: Vec<u16> = scim.requests().await.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 201]);
}

#[tokio::test]
async fn a_hanging_proxy_times_the_client_out_until_the_mode_changes() {
    let scim = ScimServer::start();
    scim.set_mode(ProxyMode::Hang { seconds: 30 }).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = client
        .get(format!("{}/Users", scim.base_url()))
        .bearer_auth(scim.token())
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    let requests = scim.requests().await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].status, 0);

    scim.set_mode(ProxyMode::Unavailable).await;
    let response = post_user(&scim, scim.token(), "amueller").await;
    assert_eq!(response.status(), 503);
    assert!(scim.users().await.is_empty());

    scim.set_mode(ProxyMode::Pass).await;
    let response = client
        .get(format!("{}/Users", scim.base_url()))
        .bearer_auth(scim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
