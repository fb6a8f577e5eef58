use crate::support::app::TestApp;
use roster::web::middleware::CONTENT_SECURITY_POLICY;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in [
        "/sign-in",
        "/no-such-page",
        "/static/roster.css",
        "/healthz",
    ] {
        let response = app.browser.get(path).await;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some(CONTENT_SECURITY_POLICY),
            "{path}"
        );
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
    }
    assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn an_unknown_address_gets_the_404_page() {
    let app = TestApp::spawn().await;
    let page = app.browser.page("/no/such/page").await;
    assert_eq!(page.status, 404);
    assert_eq!(page.text("h1"), "Page not found");
    assert_eq!(page.text("title"), "Page not found · Roster");
    assert_eq!(
        page.select_all("a[href='/']").len(),
        2,
        "brand and start-page links"
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn our_failures_get_a_500_page_with_a_request_id_and_no_details() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("ada@example.org").await;
    // Break the database behind the portal's back.
    let pool = app.database.pool().await;
    sqlx::query("DROP TABLE role_grants")
        .execute(&pool)
        .await
        .unwrap();

    let page = app.browser.page("/").await;
    assert_eq!(page.status, 500);
    assert_eq!(page.text("h1"), "Something went wrong");
    let request_id = page.text(".request-id code");
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");
    let body = page.html.html();
    assert!(
        !body.contains("role_grants"),
        "internals leaked into the page"
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn pages_have_labelled_inputs_a_skip_link_and_a_language() {
    let app = TestApp::spawn().await;
    let link = app.invite_admin("ada@example.org", "Lovelace").await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app
        .browser_for(&org, "pi@example.org", roster::domain::Role::Owner)
        .await;
    let members = app
        .context
        .store
        .members_page(&org.id, None, 1, 1, None)
        .await
        .unwrap();
    let org_pages = [
        format!("/orgs/{}", org.id),
        format!("/orgs/{}/members", org.id),
        format!(
            "/orgs/{}/members/{}",
            org.id, members.members[0].membership_id
        ),
        format!("/orgs/{}/directory?q=smith", org.id),
        format!("/orgs/{}/invitations", org.id),
        "/orgs".to_string(),
    ];
    let anonymous = ["/sign-in".to_string(), link.clone()];
    let mut checked = 0;
    for (browser, path) in anonymous
        .iter()
        .map(|path| (&app.browser, path))
        .chain(org_pages.iter().map(|path| (&owner, path)))
    {
        let page = browser.page(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.attr("html", "lang").as_deref(), Some("en"));
        assert_eq!(page.attr("a.skip-link", "href").as_deref(), Some("#main"));
        let selector =
            scraper::Selector::parse("input:not([type=hidden]), select, textarea").unwrap();
        let inputs: Vec<_> = page.html.select(&selector).collect();
        checked += inputs.len();
        for input in inputs {
            let id = input.value().attr("id").expect("input has an id");
            let label = page.select_all(&format!("label[for='{id}']"));
            assert_eq!(label.len(), 1, "{path}: input #{id} has one label");
            assert!(!label[0].is_empty());
        }
    }
    assert!(checked >= 10, "only {checked} controls were checked");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn the_stylesheet_is_served_without_inline_styles_in_pages() {
    let app = TestApp::spawn().await;
    let css = app.browser.get("/static/roster.css").await;
    assert_eq!(css.status(), 200);
    assert_eq!(
        css.headers().get("content-type").unwrap(),
        "text/css; charset=utf-8"
    );
    let page = app.browser.page("/sign-in").await;
    assert!(page.select_all("style").is_empty());
    // Scripts only from our own files (the optional copy button), never inline.
    assert_eq!(page.select_all("script"), vec![String::new()]);
    assert_eq!(
        page.attr("script", "src").as_deref(),
        Some("/static/copy.js")
    );
    assert_eq!(app.browser.get("/static/copy.js").await.status(), 200);
    assert!(page.select_all("[style]").is_empty());
    app.assert_directory_settled().await;
}
