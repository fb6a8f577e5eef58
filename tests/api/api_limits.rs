//! The per-client rate limit: counted in the database, so that two instances on one
//! database together allow the configured rate, not twice it.

use serde_json::Value;

use crate::support::api::{api_request, header, request_token};
use crate::support::app::{TestApp, start_instance};

#[tokio::test]
async fn two_instances_share_one_clients_limit_and_answer_429_past_it() {
    let app = TestApp::spawn_with(|settings| settings.api.rate_per_minute = 10).await;
    // Instances behind one address share `server.public_url`, the tokens' issuer.
    let mut settings = app.settings.clone();
    settings.server.public_url = app.address.clone();
    let (second, second_ctx) = start_instance(settings).await;
    let astro = app.create_org("Astro", "astro").await;
    let credentials = app.api_client(Some(&astro), &["org.view"]).await;
    // Start at the beginning of a minute on both instances' clocks, so that the window
    // cannot roll over during the test.
    let into_minute = app.context.clock.now().rem_euclid(60);
    for clock in [&app.context.clock, &second_ctx.clock] {
        clock.advance(60 - into_minute + 1);
    }

    let response = request_token(&app.address, &credentials, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ratelimit-limit"), "10");
    assert_eq!(header(&response, "ratelimit-remaining"), "9");
    let token: Value = response.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();

    // Thirty requests at once, half to each instance: exactly nine fit.
    let calls = (0..30).map(|n| {
        let base = if n % 2 == 0 {
            app.address.clone()
        } else {
            second.clone()
        };
        let token = token.clone();
        async move {
            api_request(
                &base,
                reqwest::Method::GET,
                "/api/v1/orgs/astro",
                &token,
                None,
                &[],
            )
            .await
        }
    });
    let responses = futures_util::future::join_all(calls).await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    let limited: Vec<&reqwest::Response> = responses.iter().filter(|r| r.status() == 429).collect();
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!((ok, limited.len()), (9, 21), "{statuses:?}");
    for response in &limited {
        let retry_after: i64 = header(response, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry_after));
        assert_eq!(header(response, "ratelimit-remaining"), "0");
        assert_eq!(header(response, "ratelimit-reset"), retry_after.to_string());
        assert_eq!(header(response, "content-type"), "application/problem+json");
    }
    // The token endpoint counts against the same limit.
    let refused = request_token(&second, &credentials, None).await;
    assert_eq!(refused.status(), 429);
    assert!(!header(&refused, "retry-after").is_empty());

    // A new minute: allowed again, on either instance.
    for clock in [&app.context.clock, &second_ctx.clock] {
        clock.advance(60);
    }
    let response = api_request(
        &second,
        reqwest::Method::GET,
        "/api/v1/orgs/astro",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ratelimit-remaining"), "9");

    // Another client has its own budget.
    let other = app.api_client(Some(&astro), &["org.view"]).await;
    assert_eq!(
        request_token(&app.address, &other, None).await.status(),
        200
    );
}
