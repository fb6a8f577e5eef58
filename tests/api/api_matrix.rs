//! The API's authorization matrix: every route of `roster::web::api::ROUTES` × every kind
//! of token (none, expired, for another organisation, without the permission, right).
//! A new API route fails this test until its row says what it needs.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::api::{api_request, header};
use crate::support::app::TestApp;

/// (method, path, permission needed, whether the path names an organisation, statuses a
/// token with the permission may get for the sample input).
type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
    &'static [u16],
);

const MATRIX: &[Row] = &[
    ("get", "/api/v1/orgs", Some("org.view"), false, &[200]),
    (
        "get",
        "/api/v1/orgs/{short}",
        Some("org.view"),
        true,
        &[200],
    ),
    (
        "patch",
        "/api/v1/orgs/{short}",
        Some("org.edit"),
        true,
        &[428],
    ),
    (
        "get",
        "/api/v1/orgs/{short}/members",
        Some("org.view"),
        true,
        &[200],
    ),
    (
        "patch",
        "/api/v1/orgs/{short}/members",
        Some("members.manage"),
        true,
        &[428],
    ),
    (
        "get",
        "/api/v1/orgs/{short}/invitations",
        Some("invitations.manage"),
        true,
        &[200],
    ),
    (
        "post",
        "/api/v1/orgs/{short}/invitations",
        Some("invitations.manage"),
        true,
        &[200, 201],
    ),
    (
        "post",
        "/api/v1/orgs/{short}/invitations/{id}/resend",
        Some("invitations.manage"),
        true,
        &[200],
    ),
    (
        "delete",
        "/api/v1/orgs/{short}/invitations/{id}",
        Some("invitations.manage"),
        true,
        &[204, 409],
    ),
    (
        "get",
        "/api/v1/people",
        Some("directory.search"),
        false,
        &[200],
    ),
    ("get", "/api/v1/roles", None, false, &[200]),
    // A resource's routes name it by id; another organisation's token gets 404 all the same.
    (
        "get",
        "/api/v1/orgs/{short}/resources",
        Some("resources.read"),
        true,
        &[200],
    ),
    (
        "post",
        "/api/v1/orgs/{short}/resources",
        Some("resources.manage"),
        true,
        &[201],
    ),
    (
        "get",
        "/api/v1/resources/{id}",
        Some("resources.read"),
        true,
        &[200],
    ),
    (
        "patch",
        "/api/v1/resources/{id}",
        Some("resources.manage"),
        true,
        &[428],
    ),
    (
        "put",
        "/api/v1/resources/{id}/access-list",
        Some("resources.manage"),
        true,
        &[428],
    ),
    (
        "get",
        "/api/v1/resources/{id}/access",
        Some("resources.read"),
        true,
        &[200],
    ),
];

fn sample_body(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("patch", "/api/v1/orgs/{short}") => Some(json!({"description": "matrix"})),
        ("patch", "/api/v1/orgs/{short}/members") => Some(json!({"add": []})),
        ("post", "/api/v1/orgs/{short}/invitations") => {
            Some(json!({"email": "matrix@example.org", "surname": "Matrix"}))
        }
        ("post", "/api/v1/orgs/{short}/resources") => {
            Some(json!({"short_name": "cam", "name": "Camera", "kind": "device"}))
        }
        ("patch", "/api/v1/resources/{id}") => Some(json!({"restricted": true})),
        ("put", "/api/v1/resources/{id}/access-list") => Some(json!({"usernames": []})),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NoToken,
    OtherOrganisation,
    MissingPermission,
    Right,
    Expired,
}

#[tokio::test]
async fn every_api_route_answers_each_kind_of_token_as_decided() {
    let served: BTreeSet<(&str, &str)> = roster::web::api::ROUTES.iter().copied().collect();
    let decided: BTreeSet<(&str, &str)> = MATRIX.iter().map(|row| (row.0, row.1)).collect();
    assert_eq!(served, decided, "API routes and matrix rows differ");
    assert_eq!(MATRIX.len(), served.len());

    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let bio = app.create_org("Bio", "bio").await;
    app.invite_to(
        &astro,
        "pending@example.org",
        "Pending",
        roster::domain::Role::Member,
    )
    .await;
    let invitation_id = app
        .context
        .store
        .invitations_of_organisation(&astro.id)
        .await
        .unwrap()[0]
        .invitation
        .id
        .clone();
    let resource = app.create_resource(&astro, "gpu", "cluster").await;
    let all = [
        "org.view",
        "org.edit",
        "members.manage",
        "invitations.manage",
        "directory.search",
        "resources.read",
        "resources.manage",
    ];
    let right = app.api_token(Some(&astro), &all).await;
    let other_org = app.api_token(Some(&bio), &all).await;
    // A token for astro holding a permission no route here needs.
    let missing = app.api_token(Some(&astro), &["org.history"]).await;
    let expired = app.api_token(Some(&astro), &all).await;

    let mut wrong = Vec::new();
    for kind in [
        Kind::NoToken,
        Kind::OtherOrganisation,
        Kind::MissingPermission,
        Kind::Right,
        Kind::Expired,
    ] {
        if kind == Kind::Expired {
            app.context.clock.advance(601);
        }
        let token = match kind {
            Kind::NoToken => "",
            Kind::OtherOrganisation => other_org.as_str(),
            Kind::MissingPermission => missing.as_str(),
            Kind::Right => right.as_str(),
            Kind::Expired => expired.as_str(),
        };
        for (method, pattern, permission, names_org, allowed) in MATRIX {
            let id = if pattern.starts_with("/api/v1/resources/") {
                &resource.id
            } else {
                &invitation_id
            };
            let path = pattern.replace("{short}", "astro").replace("{id}", id);
            let path = match *pattern {
                "/api/v1/people" => format!("{path}?q=smith"),
                "/api/v1/resources/{id}/access" => format!("{path}?username=nobody"),
                _ => path,
            };
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = sample_body(&method.as_str().to_lowercase(), pattern);
            let response = api_request(
                &app.address,
                method.clone(),
                &path,
                token,
                body.as_ref(),
                &[],
            )
            .await;
            let status = response.status().as_u16();
            let expected: Vec<u16> = match kind {
                Kind::NoToken | Kind::Expired => vec![401],
                Kind::OtherOrganisation if *names_org => vec![404],
                Kind::MissingPermission if permission.is_some() => vec![403],
                _ => allowed.to_vec(),
            };
            if !expected.contains(&status) {
                wrong.push(format!(
                    "{method} {pattern} with {kind:?}: {status}, expected {expected:?}"
                ));
            }
            match status {
                401 if !header(&response, "www-authenticate").contains("invalid_token") => wrong
                    .push(format!(
                        "{method} {pattern} with {kind:?}: 401 without the challenge"
                    )),
                403 if !header(&response, "www-authenticate")
                    .contains(&format!("scope=\"{}\"", permission.unwrap_or_default())) =>
                {
                    wrong.push(format!(
                        "{method} {pattern} with {kind:?}: 403 without the scope"
                    ))
                }
                _ => {}
            }
            if status >= 400 && header(&response, "content-type") != "application/problem+json" {
                wrong.push(format!(
                    "{method} {pattern} with {kind:?}: {status} is not problem+json"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
