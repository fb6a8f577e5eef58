//! The token endpoint and access tokens: RFC 6749 client credentials, RFC 9068 JWTs
//! verified against the published JWKS by independent JOSE libraries, and every kind of
//! bad token refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::api::{Credentials, header, request_token, script_http};
use crate::support::app::TestApp;

/// Checks `token` with PyJWT, fetching the keys from the portal's JWKS as a service would.
fn verify_with_pyjwt(jwks_url: &str, token: &str, audience: &str, issuer: &str) -> Value {
    let script = r#"
import json, sys, jwt
url, token, audience, issuer = sys.argv[1:5]
key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=audience, issuer=issuer)
header = jwt.get_unverified_header(token)
print(json.dumps({"claims": claims, "typ": header.get("typ"), "kid": header.get("kid")}))
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script, jwks_url, token, audience, issuer])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("PyJWT's output is JSON")
}

#[tokio::test]
async fn a_token_from_client_credentials_verifies_against_the_published_jwks() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let credentials = app
        .api_client(Some(&astro), &["org.view", "members.manage"])
        .await;

    // HTTP Basic, and the form fields, both work (RFC 6749 §2.3.1).
    let response = request_token(&app.address, &credentials, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "ratelimit-limit"), "300");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "members.manage org.view");
    let token = body["access_token"].as_str().unwrap().to_string();
    let by_form = script_http()
        .post(format!("{}/oauth/token", app.address))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", credentials.id.as_str()),
            ("client_secret", credentials.secret.as_str()),
            ("scope", "org.view"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), 200);
    let narrowed: Value = by_form.json().await.unwrap();
    assert_eq!(narrowed["scope"], "org.view");

    // The metadata names the issuer, the token endpoint and the JWKS.
    let metadata: Value = script_http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            app.address
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], app.address);
    assert_eq!(
        metadata["token_endpoint"],
        format!("{}/oauth/token", app.address)
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["client_credentials"])
    );
    assert!(
        metadata["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("members.manage"))
    );
    let jwks_url = metadata["jwks_uri"].as_str().unwrap().to_string();

    // PyJWT, knowing nothing of Roster but the JWKS URL, accepts it.
    let checked = verify_with_pyjwt(&jwks_url, &token, "roster", &app.address);
    assert_eq!(checked["typ"], "at+jwt");
    let claims = &checked["claims"];
    assert_eq!(claims["iss"], app.address);
    assert_eq!(claims["sub"], credentials.id);
    assert_eq!(claims["client_id"], credentials.id);
    assert_eq!(claims["aud"], "roster");
    assert_eq!(claims["org"], "astro");
    assert_eq!(claims["scope"], "members.manage org.view");
    assert_eq!(claims["permissions"], json!(["members.manage", "org.view"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(!claims["jti"].as_str().unwrap().is_empty());

    // So does the Rust `jsonwebtoken` crate, from the same JWKS.
    let jwks: JwkSet = script_http()
        .get(&jwks_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let key = DecodingKey::from_jwk(jwks.find(&kid).expect("kid published")).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["roster"]);
    validation.set_issuer(&[app.address.as_str()]);
    let decoded = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    assert_eq!(decoded.claims["org"], "astro");
    assert_eq!(checked["kid"], kid);
}

#[tokio::test]
async fn the_token_endpoint_answers_bad_requests_as_rfc_6749_says() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let credentials = app.api_client(Some(&astro), &["org.view"]).await;
    let post = |form: Vec<(&'static str, String)>, basic: Option<(String, String)>| {
        let mut request = script_http()
            .post(format!("{}/oauth/token", app.address))
            .form(&form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        async move { request.send().await.unwrap() }
    };
    let grant = || vec![("grant_type", "client_credentials".to_string())];
    let basic = |secret: &str| Some((credentials.id.clone(), secret.to_string()));

    let cases: Vec<(&str, reqwest::Response, u16, &str)> = vec![
        (
            "wrong secret",
            post(grant(), basic("x".repeat(43).as_str())).await,
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            post(
                grant(),
                Some(("rc_nobody".into(), credentials.secret.clone())),
            )
            .await,
            401,
            "invalid_client",
        ),
        (
            "no credentials",
            post(grant(), None).await,
            401,
            "invalid_client",
        ),
        (
            "password grant",
            post(
                vec![("grant_type", "password".into())],
                basic(&credentials.secret),
            )
            .await,
            400,
            "unsupported_grant_type",
        ),
        (
            "no grant type",
            post(vec![], basic(&credentials.secret)).await,
            400,
            "invalid_request",
        ),
        (
            "a scope the client lacks",
            post(
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("scope", "org.view members.manage".into()),
                ],
                basic(&credentials.secret),
            )
            .await,
            400,
            "invalid_scope",
        ),
        (
            "an unknown scope",
            post(
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("scope", "root".into()),
                ],
                basic(&credentials.secret),
            )
            .await,
            400,
            "invalid_scope",
        ),
    ];
    for (case, response, status, error) in cases {
        assert_eq!(response.status().as_u16(), status, "{case}");
        if status == 401 {
            assert!(
                header(&response, "www-authenticate").starts_with("Basic"),
                "{case}"
            );
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{case}");
    }
    // Not a form at all.
    let json_body = script_http()
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(&credentials.id, Some(&credentials.secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
}

/// A token signed with the portal's own key but claims of our choosing: what a thief of
/// the key could make, or a token meant for another audience.
async fn signed_by_portal(app: &TestApp, claims: &Value) -> String {
    let keys = app.context.store.signing_keys(0).await.unwrap();
    let key = &keys[0];
    let der = base64::engine::general_purpose::STANDARD
        .decode(&key.private_key)
        .unwrap();
    let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&der),
    )
    .unwrap()
}

#[tokio::test]
async fn expired_wrong_audience_tampered_and_unsigned_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let credentials = app.api_client(Some(&astro), &["org.view"]).await;
    let token = app.token_for(&credentials).await;
    assert_eq!(
        app.api_get("/api/v1/orgs/astro", &token).await.status(),
        200
    );

    let [head, payload, signature]: [&str; 3] =
        token.split('.').collect::<Vec<_>>().try_into().unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();

    // Tampered: the payload claims another organisation; the signature no longer fits.
    let mut widened = claims.clone();
    widened["org"] = json!("bio");
    widened["permissions"] = json!(["org.view", "members.manage", "staff.manage"]);
    let tampered = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(widened.to_string())
    );
    // Unsigned: `alg: none` with the same claims.
    let none_header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": "x"}).to_string());
    let unsigned = format!("{none_header}.{payload}.");
    // Signed with the right key but for another audience, or by another issuer.
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("someone-else");
    let other_audience = signed_by_portal(&app, &other_audience).await;
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://evil.example");
    let other_issuer = signed_by_portal(&app, &other_issuer).await;
    // Signed by a key Roster never published.
    let foreign = {
        let der = {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: [7; 32],
                public_key: None,
            }
            .to_pkcs8_der()
            .unwrap()
        };
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some("foreign".into());
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
        )
        .unwrap()
    };
    let signature_flipped = {
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[0] ^= 1;
        format!("{head}.{payload}.{}", URL_SAFE_NO_PAD.encode(bytes))
    };
    for (case, bad) in [
        ("tampered payload", tampered.as_str()),
        ("flipped signature", signature_flipped.as_str()),
        ("alg none", unsigned.as_str()),
        ("wrong audience", other_audience.as_str()),
        ("wrong issuer", other_issuer.as_str()),
        ("foreign key", foreign.as_str()),
        ("garbage", "not.a.token"),
    ] {
        let response = app.api_get("/api/v1/orgs/astro", bad).await;
        assert_eq!(response.status(), 401, "{case}");
        assert!(
            header(&response, "www-authenticate").contains("error=\"invalid_token\""),
            "{case}"
        );
        assert_eq!(
            header(&response, "content-type"),
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 401, "{case}");
    }

    // Expired: the clock moves past `exp` (10 minutes), never waited for.
    app.context.clock.advance(601);
    let response = app.api_get("/api/v1/orgs/astro", &token).await;
    assert_eq!(response.status(), 401);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["detail"], "the access token has expired");

    // Cookies are not credentials here: a signed-in browser's session gets 401.
    app.signed_in_admin("admin@example.org").await;
    let with_cookie = app.browser.get("/api/v1/orgs/astro").await;
    assert_eq!(with_cookie.status(), 401);
}

#[tokio::test]
async fn a_revoked_client_is_refused_at_once_and_its_first_use_is_audited() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&astro, "owner@example.org", roster::domain::Role::Owner)
        .await;

    // The owner makes a client on the organisation's page; the secret is shown once.
    let page = owner.page(&format!("/orgs/{}/clients", astro.id)).await;
    assert_eq!(page.status, 200);
    let token = page.csrf_token();
    let response = owner
        .post_form(
            &format!("/orgs/{}/clients", astro.id),
            &[
                ("csrf_token", token.as_str()),
                ("name", "nightly sync"),
                ("scope", "org.view"),
                ("scope", "members.manage"),
            ],
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let page = crate::support::app::into_page(response).await;
    let credentials = Credentials {
        id: page.attr("#client-id", "value").unwrap(),
        secret: page.attr("#client-secret", "value").unwrap(),
    };
    assert!(credentials.secret.len() >= 43, "256 bits");
    let stored = app
        .context
        .store
        .client(&credentials.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.created_by_name.as_deref(), Some("Tester"));
    // Only the hash is stored; the listing never shows the secret again.
    let listing = owner.page(&format!("/orgs/{}/clients", astro.id)).await;
    assert_eq!(
        listing.select_all("table.clients td.name"),
        vec!["nightly sync"]
    );
    assert!(listing.attr("#client-secret", "value").is_none());

    let token = app.token_for(&credentials).await;
    assert_eq!(
        app.api_get("/api/v1/orgs/astro", &token).await.status(),
        200
    );
    let listing = owner.page(&format!("/orgs/{}/clients", astro.id)).await;
    assert_ne!(listing.text("table.clients td.last-used"), "never");

    // Revoked on the page: the very next call is refused, and no new token is issued.
    let csrf = listing.csrf_token();
    let revoked = owner
        .post_form(
            &format!("/orgs/{}/clients/{}/revoke", astro.id, credentials.id),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(revoked.status(), 303);
    let response = app.api_get("/api/v1/orgs/astro", &token).await;
    assert_eq!(response.status(), 401);
    assert!(header(&response, "www-authenticate").contains("invalid_token"));
    assert_eq!(
        request_token(&app.address, &credentials, None)
            .await
            .status(),
        401
    );

    // Creating, first use and revoking are in the organisation's history.
    let history = owner.page(&format!("/orgs/{}/history", astro.id)).await;
    let actions = history.attr_all("table.history tbody tr", "data-event");
    for action in ["client.created", "client.first_used", "client.revoked"] {
        assert!(
            actions.contains(&action.to_string()),
            "{action} in {actions:?}"
        );
    }
    let events = app
        .context
        .store
        .audit_of_person(&credentials.id, 50)
        .await
        .unwrap();
    let first_uses: Vec<_> = events
        .iter()
        .filter(|event| event.action == "client.first_used")
        .collect();
    assert_eq!(first_uses.len(), 1, "first use audited once: {events:?}");
}

#[tokio::test]
async fn a_client_cannot_be_given_more_than_its_creator_may_do() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&astro, "owner@example.org", roster::domain::Role::Owner)
        .await;
    let manager = app
        .browser_for(&astro, "manager@example.org", roster::domain::Role::Manager)
        .await;
    let path = format!("/orgs/{}/clients", astro.id);

    // The form offers only what the owner holds here.
    let page = owner.page(&path).await;
    let offered = page.select_all("fieldset#scope label");
    assert!(offered.contains(&"members.manage".to_string()));
    assert!(!offered.contains(&"staff.manage".to_string()));
    assert!(!offered.contains(&"accounts.delete".to_string()));

    // A crafted form asking for a staff permission is refused beside the field.
    let token = page.csrf_token();
    let response = owner
        .post_form(
            &path,
            &[
                ("csrf_token", token.as_str()),
                ("name", "too powerful"),
                ("scope", "org.view"),
                ("scope", "staff.manage"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = crate::support::app::into_page(response).await;
    assert!(page.text("#scope-error").contains("staff.manage"));
    for (case, fields) in [
        ("no permissions", vec![("name", "x")]),
        ("unknown permission", vec![("name", "x"), ("scope", "root")]),
        (
            "bad network",
            vec![
                ("name", "x"),
                ("scope", "org.view"),
                ("networks", "10.0.0.0/40"),
            ],
        ),
        (
            "past expiry",
            vec![
                ("name", "x"),
                ("scope", "org.view"),
                ("expires_on", "2001-01-01"),
            ],
        ),
        ("no name", vec![("name", " "), ("scope", "org.view")]),
    ] {
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend(fields);
        let response = owner.post_form(&path, &form).await;
        assert_eq!(response.status(), 422, "{case}");
    }
    assert!(
        app.context
            .store
            .clients(Some(&astro.id))
            .await
            .unwrap()
            .is_empty()
    );

    // A manager may not manage clients at all.
    assert_eq!(manager.get(&path).await.status(), 403);

    // From the command line an organisation's client carries at most an owner's rights.
    let refused = roster::usecases::clients::create_client(
        &app.context,
        roster::usecases::clients::ClientCreator::CommandLine,
        roster::usecases::clients::ClientRequest {
            organisation: Some(&astro),
            name: roster::domain::ClientName::parse("cli").unwrap(),
            scopes: roster::domain::Scopes::parse("org.view accounts.delete").unwrap(),
            networks: roster::domain::AllowedNetworks::default(),
            expires_at: None,
        },
    )
    .await;
    assert!(matches!(
        refused,
        Err(roster::usecases::clients::ClientError::ScopeNotHeld(
            roster::domain::Permission::DeleteAccounts
        ))
    ));
}

#[tokio::test]
async fn a_client_limited_to_a_network_gets_no_token_from_elsewhere() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let allowed = |cidr: &str| {
        let cidr = cidr.to_string();
        let app = &app;
        let astro = &astro;
        async move {
            let created = roster::usecases::clients::create_client(
                &app.context,
                roster::usecases::clients::ClientCreator::CommandLine,
                roster::usecases::clients::ClientRequest {
                    organisation: Some(astro),
                    name: roster::domain::ClientName::parse("net").unwrap(),
                    scopes: roster::domain::Scopes::parse("org.view").unwrap(),
                    networks: roster::domain::AllowedNetworks::parse(&cidr).unwrap(),
                    expires_at: None,
                },
            )
            .await
            .unwrap();
            Credentials {
                id: created.id,
                secret: created.secret.expose().to_string(),
            }
        }
    };
    let elsewhere = allowed("192.0.2.0/24").await;
    assert_eq!(
        request_token(&app.address, &elsewhere, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let loopback = allowed("127.0.0.0/8").await;
    assert_eq!(
        request_token(&app.address, &loopback, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn rotated_keys_sign_new_tokens_while_old_ones_verify_until_they_expire() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let credentials = app.api_client(Some(&astro), &["org.view"]).await;
    let old_token = app.token_for(&credentials).await;
    let old_kid = jsonwebtoken::decode_header(&old_token)
        .unwrap()
        .kid
        .unwrap();

    // `roster keys rotate`, as another process would run it against the same database.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::cli::write_config(&app, dir.path(), "127.0.0.1:0", "");
    let output = crate::cli::roster()
        .args(["--config", config.to_str().unwrap(), "keys", "rotate"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let new_kid = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_ne!(new_kid, old_kid);

    // Within a minute every instance signs with the new key; both are published.
    app.context.clock.advance(61);
    let new_token = app.token_for(&credentials).await;
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .unwrap()
            .kid
            .unwrap(),
        new_kid
    );
    let jwks: Value = script_http()
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
    assert_eq!(
        app.api_get("/api/v1/orgs/astro", &new_token).await.status(),
        200
    );

    // Once every token the old key signed has expired, it is no longer published.
    app.context.clock.advance(11 * 60);
    let jwks: Value = script_http()
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str()]);
}
