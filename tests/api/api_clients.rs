//! Managing API clients: the site administrators' page, and `roster client …`.

use serde_json::Value;

use crate::support::api::{Credentials, header, request_token};
use crate::support::app::{TestApp, into_page};

#[tokio::test]
async fn site_admins_make_site_wide_clients_that_see_every_organisation() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    app.create_org("Astro", "astro").await;
    app.create_org("Bio", "bio").await;
    let home = app.browser.page("/").await;
    assert!(home.select_all("a").contains(&"API clients".to_string()));

    let page = app.browser.page("/admin/clients").await;
    assert_eq!(page.status, 200);
    let offered = page.select_all("fieldset#scope label");
    assert!(
        offered.contains(&"accounts.view".to_string()),
        "{offered:?}"
    );
    let token = page.csrf_token();
    let response = app
        .browser
        .post_form(
            "/admin/clients",
            &[
                ("csrf_token", token.as_str()),
                ("name", "site reporting"),
                ("scope", "org.view"),
                ("scope", "accounts.view"),
                ("networks", "127.0.0.1/32 ::1"),
                ("expires_on", "2099-12-31"),
            ],
        )
        .await;
    assert_eq!(response.status(), 201);
    let page = into_page(response).await;
    let credentials = Credentials {
        id: page.attr("#client-id", "value").unwrap(),
        secret: page.attr("#client-secret", "value").unwrap(),
    };
    assert_eq!(page.text("table.clients td.organisation"), "site-wide");
    assert_eq!(
        page.text("table.clients td.networks"),
        "127.0.0.1/32 ::1/128"
    );

    let response = request_token(&app.address, &credentials, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_string();
    let orgs: Value = app
        .api_get("/api/v1/orgs", &access)
        .await
        .json()
        .await
        .unwrap();
    let shorts: Vec<&str> = orgs["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|org| org["short_name"].as_str().unwrap())
        .collect();
    assert_eq!(shorts, vec!["astro", "bio"]);

    // An organisation's client sees only its own.
    let astro = app
        .context
        .store
        .organisation_by_short_name(&roster::domain::ShortName::parse("astro").unwrap())
        .await
        .unwrap()
        .unwrap();
    let own = app.api_token(Some(&astro), &["org.view"]).await;
    let orgs: Value = app
        .api_get("/api/v1/orgs", &own)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orgs["orgs"].as_array().unwrap().len(), 1);
    assert_eq!(app.api_get("/api/v1/orgs/bio", &own).await.status(), 404);
    assert_eq!(
        app.api_get("/api/v1/orgs/nowhere", &own).await.status(),
        404
    );

    // The list links to a confirmation that names the client and changes nothing by itself.
    let path = format!("/admin/clients/{}/revoke", credentials.id);
    let page = app.browser.page("/admin/clients").await;
    assert!(
        page.attr_all("td.actions a.button-link", "href")
            .contains(&path),
        "the list links to the confirmation"
    );
    let confirm = app.browser.page(&path).await;
    assert!(confirm.text("h1").starts_with("Revoke the API client "));
    assert!(confirm.select_all("p.consequence")[0].contains(&credentials.id));
    assert_eq!(
        confirm.attr_all("form.confirm-actions", "action"),
        std::slice::from_ref(&path)
    );
    assert_eq!(confirm.attr_all("a.cancel", "href"), ["/admin/clients"]);
    assert_eq!(app.api_get("/api/v1/orgs", &access).await.status(), 200);

    // Revoked from the confirmation; revoking again is a conflict, an unknown id is not found.
    let csrf = confirm.csrf_token();
    let first = app
        .browser
        .post_form(&path, &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(first.status(), 303);
    let again = app
        .browser
        .post_form(&path, &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(again.status(), 409);
    assert_eq!(app.browser.get(&path).await.status(), 409);
    assert_eq!(
        app.browser
            .get("/admin/clients/rc_unknown/revoke")
            .await
            .status(),
        404
    );
    let unknown = app
        .browser
        .post_form(
            "/admin/clients/rc_unknown/revoke",
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(unknown.status(), 404);
    let response = app.api_get("/api/v1/orgs", &access).await;
    assert_eq!(response.status(), 401);
    assert!(header(&response, "www-authenticate").contains("invalid_token"));
}

#[tokio::test]
async fn the_client_commands_create_list_and_revoke() {
    let app = TestApp::spawn().await;
    app.create_org("Astro", "astro").await;
    let dir = tempfile::tempdir().unwrap();
    let config = crate::cli::write_config(&app, dir.path(), "127.0.0.1:0", "");
    let roster = |args: &[&str]| {
        let mut command = crate::cli::roster();
        command
            .args(["--config", config.to_str().unwrap()])
            .args(args);
        command
    };
    let run = |args: Vec<String>| {
        let mut command = roster(&args.iter().map(String::as_str).collect::<Vec<_>>());
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };
    let args = |text: &str| text.split(' ').map(String::from).collect::<Vec<_>>();

    let created = run(args("client create --org astro --name sync --scope org.view --scope members.manage --cidr 127.0.0.0/8 --expires-days 30")).await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let value = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_string()
    };
    let credentials = Credentials {
        id: value("client_id"),
        secret: value("client_secret"),
    };
    assert_eq!(
        request_token(&app.address, &credentials, None)
            .await
            .status(),
        200
    );

    let listed = run(args("client list")).await;
    let listing = String::from_utf8(listed.stdout).unwrap();
    let fields: Vec<&str> = listing.lines().next().unwrap().split('\t').collect();
    assert_eq!(fields[0], credentials.id);
    assert_eq!(&fields[1..4], ["astro", "sync", "members.manage org.view"]);
    assert_eq!(fields[6], "active");
    assert_ne!(fields[5], "never");

    // Mistakes are usage errors (exit 2) with the reason.
    for (case, bad) in [
        (
            "a staff permission",
            "client create --org astro --name x --scope staff.manage",
        ),
        (
            "an unknown permission",
            "client create --org astro --name x --scope root",
        ),
        (
            "an unknown organisation",
            "client create --org nowhere --name x --scope org.view",
        ),
        (
            "a bad network",
            "client create --org astro --name x --scope org.view --cidr 300.0.0.0/8",
        ),
        ("an unknown client", "client revoke rc_nobody"),
    ] {
        let output = run(args(bad)).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{case}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.stderr.is_empty(), "{case}");
    }

    let revoked = run(vec![
        "client".into(),
        "revoke".into(),
        credentials.id.clone(),
    ])
    .await;
    assert!(revoked.status.success());
    assert_eq!(
        request_token(&app.address, &credentials, None)
            .await
            .status(),
        401
    );
    let listing = String::from_utf8(run(args("client list")).await.stdout).unwrap();
    assert!(
        listing.lines().next().unwrap().ends_with("\trevoked"),
        "{listing}"
    );
}
