//! The API's invitation batch: `{"invitations": […]}` or a CSV body, the dry run, the
//! `Idempotency-Key` replay (and its refusal for another body), atomic and best-effort
//! modes, and bad requests answered as problem+json.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::api::{api_request, header, script_http};
use crate::support::app::TestApp;

const PATH: &str = "/api/v1/orgs/astro/invitations";

async fn post(
    app: &TestApp,
    token: &str,
    query: &str,
    body: &Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut headers = Vec::new();
    if let Some(key) = key {
        headers.push(("Idempotency-Key", key));
    }
    api_request(
        &app.address,
        Method::POST,
        &format!("{PATH}{query}"),
        token,
        Some(body),
        &headers,
    )
    .await
}

async fn invitation_count(app: &TestApp, organisation_id: &str) -> usize {
    app.context
        .store
        .invitations_of_organisation(organisation_id)
        .await
        .unwrap()
        .len()
}

fn outcomes(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["outcome"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_dry_run_says_what_each_item_would_do_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "member1").await;
    let token = app.api_token(Some(&org), &["invitations.manage"]).await;
    app.deliver_mail().await;
    let mails_before = app.smtp.messages().len();
    let invitations_before = invitation_count(&app, &org.id).await;
    let body = json!({"invitations": [
        {"surname": "Curie", "given_name": "Marie", "email": "marie@example.org"},
        {"surname": "Member", "email": "member1@example.org"},
        {"surname": "Bad", "email": "not-an-email"},
        {"surname": "Curie", "email": "MARIE@example.org"},
        {"surname": "Boss", "email": "boss@example.org", "role": "owner"},
    ]});
    let response = post(&app, &token, "?dry_run=true", &body, None).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["dry_run"], true);
    assert!(answer.get("batch_id").is_none());
    assert_eq!(
        outcomes(&answer),
        ["create", "skip", "error", "error", "error"]
    );
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[2]["field"], "email");
    assert_eq!(results[3]["message"], "Duplicate of item 0.");
    assert_eq!(
        results[4]["field"], "role",
        "this client may not grant owner"
    );
    assert_eq!(results[4]["index"], 4);
    app.deliver_mail().await;
    assert_eq!(app.smtp.messages().len(), mails_before);
    assert_eq!(invitation_count(&app, &org.id).await, invitations_before);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let credentials = app.api_client(Some(&org), &["invitations.manage"]).await;
    let token = app.token_for(&credentials).await;
    let body = json!({"invitations": [
        {"surname": "Curie", "email": "marie@example.org", "end_date": "2099-01-31"},
        {"surname": "Noether", "email": "emmy@example.org"},
        {"surname": "Bad", "email": "bad@@example.org"},
    ]});
    let first = post(&app, &token, "", &body, Some("term-2026-autumn")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "idempotent-replayed"), "");
    let first: Value = first.json().await.unwrap();
    assert_eq!(outcomes(&first), ["created", "created", "error"]);
    assert!(first["results"][0]["id"].as_str().is_some());
    app.deliver_mail().await;
    assert_eq!(app.smtp.messages().len(), 2);

    // A retry (the script lost the answer): the same answer, nothing sent twice.
    let again = post(&app, &token, "", &body, Some("term-2026-autumn")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, "idempotent-replayed"), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["batch_id"], first["batch_id"]);
    assert_eq!(again["results"], first["results"]);
    app.deliver_mail().await;
    assert_eq!(app.smtp.messages().len(), 2);
    assert_eq!(invitation_count(&app, &org.id).await, 2);

    // The same key with another body.
    let other = json!({"invitations": [{"surname": "Meitner", "email": "lise@example.org"}]});
    let refused = post(&app, &token, "", &other, Some("term-2026-autumn")).await;
    assert_eq!(refused.status(), 422);
    assert_eq!(header(&refused, "content-type"), "application/problem+json");
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    assert_eq!(invitation_count(&app, &org.id).await, 2);

    // After 24 hours the key starts a new batch: the two are invited again (re-sent).
    app.context.clock.advance(86_400 + 60);
    let token = app.token_for(&credentials).await;
    let later = post(&app, &token, "", &body, Some("term-2026-autumn")).await;
    assert_eq!(later.status(), 200);
    assert_eq!(header(&later, "idempotent-replayed"), "");
    let later: Value = later.json().await.unwrap();
    assert_ne!(later["batch_id"], first["batch_id"]);
    assert_eq!(outcomes(&later), ["resent", "resent", "error"]);
}

#[tokio::test]
async fn atomic_mode_does_nothing_when_an_item_is_refused_and_csv_bodies_work() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let token = app.api_token(Some(&org), &["invitations.manage"]).await;
    let with_error = json!({"invitations": [
        {"surname": "Curie", "email": "marie@example.org"},
        {"surname": "", "email": "nobody@example.org"},
    ]});
    let refused = post(&app, &token, "?mode=atomic", &with_error, None).await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["index"], 1);
    assert_eq!(problem["errors"][0]["field"], "invitations[1].surname");
    assert_eq!(invitation_count(&app, &org.id).await, 0);

    // Best effort (the default) does what it can.
    let done = post(&app, &token, "", &with_error, None).await;
    assert_eq!(done.status(), 200);
    assert_eq!(outcomes(&done.json().await.unwrap()), ["created", "error"]);

    // A CSV body, keyed by line.
    let csv =
        "surname;given name;email\r\nMüller;Anna;anna@example.org\r\nNuñez;;lucia@example.org\r\n";
    let response = script_http()
        .post(format!("{}{PATH}", app.address))
        .bearer_auth(&token)
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(outcomes(&answer), ["created", "created"]);
    assert_eq!(answer["results"][0]["index"], 2);
    assert_eq!(answer["results"][1]["email"], "lucia@example.org");
    app.deliver_mail().await;
    let anna = app.mail_to("anna@example.org").await;
    assert!(anna.text.contains("Anna Müller"), "{}", anna.text);
}

#[tokio::test]
async fn bad_batches_are_refused_with_problem_details() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let token = app.api_token(Some(&org), &["invitations.manage"]).await;
    let one = json!({"invitations": [{"surname": "Curie", "email": "marie@example.org"}]});
    let too_many: Vec<Value> = (0..5001)
        .map(|n| json!({"surname": "P", "email": format!("p{n}@example.org")}))
        .collect();
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "5,001 items",
            script_http()
                .post(format!("{}{PATH}", app.address))
                .json(&json!({"invitations": too_many})),
            422,
        ),
        (
            "an unknown field",
            script_http()
                .post(format!("{}{PATH}", app.address))
                .json(&json!({"invitations": [{"surname": "X", "email": "x@example.org", "shell": "/bin/sh"}]})),
            400,
        ),
        (
            "an empty list",
            script_http()
                .post(format!("{}{PATH}", app.address))
                .json(&json!({"invitations": []})),
            422,
        ),
        (
            "a bad mode",
            script_http()
                .post(format!("{}{PATH}?mode=sometimes", app.address))
                .json(&one),
            400,
        ),
        (
            "a bad key",
            script_http()
                .post(format!("{}{PATH}", app.address))
                .header("Idempotency-Key", "")
                .json(&one),
            400,
        ),
        (
            "XML",
            script_http()
                .post(format!("{}{PATH}", app.address))
                .header("content-type", "application/xml")
                .body("<invitations/>"),
            415,
        ),
        (
            "a CSV without an email column",
            script_http()
                .post(format!("{}{PATH}", app.address))
                .header("content-type", "text/csv")
                .body("surname,phone\nCurie,1\n"),
            422,
        ),
        (
            "binary junk as CSV",
            script_http()
                .post(format!("{}{PATH}", app.address))
                .header("content-type", "text/csv")
                .body(vec![0xff_u8, 0x00, 0x13, 0x37]),
            422,
        ),
        (
            "a body over the limit",
            script_http()
                .post(format!("{}{PATH}", app.address))
                .header("content-type", "text/csv")
                .body(vec![b'a'; 3 * 1024 * 1024]),
            413,
        ),
    ];
    for (what, request, status) in cases {
        let response = request.bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), status, "{what}");
        assert_eq!(
            header(&response, "content-type"),
            "application/problem+json",
            "{what}"
        );
    }
    assert_eq!(invitation_count(&app, &org.id).await, 0);
}

#[tokio::test]
async fn the_same_key_on_two_instances_at_once_does_the_batch_once() {
    let app = TestApp::spawn().await;
    // Instances behind one address share `server.public_url`, the tokens' issuer.
    let mut settings = app.settings.clone();
    settings.server.public_url = app.address.clone();
    let (second, _second_context) = crate::support::app::start_instance(settings).await;
    let org = app.create_org("Astro", "astro").await;
    let token = app.api_token(Some(&org), &["invitations.manage"]).await;
    let people: Vec<Value> = (0..100)
        .map(|n| json!({"surname": "Student", "email": format!("s{n}@example.org")}))
        .collect();
    let body = json!({ "invitations": people });
    let send = |base: String| {
        let (token, body) = (token.clone(), body.clone());
        async move {
            let response = api_request(
                &base,
                Method::POST,
                PATH,
                &token,
                Some(&body),
                &[("Idempotency-Key", "one-batch")],
            )
            .await;
            let replayed = header(&response, "idempotent-replayed");
            (
                response.status(),
                replayed,
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (first, other) = tokio::join!(send(app.address.clone()), send(second));
    assert_eq!(first.0, 200, "{}", first.2);
    assert_eq!(other.0, 200, "{}", other.2);
    assert_eq!(first.2["batch_id"], other.2["batch_id"]);
    assert_eq!(first.2["results"], other.2["results"]);
    let replays = [&first.1, &other.1]
        .iter()
        .filter(|r| r.as_str() == "true")
        .count();
    assert_eq!(replays, 1, "one did the batch, the other replayed it");
    assert_eq!(invitation_count(&app, &org.id).await, 100);
    app.deliver_mail().await;
    assert_eq!(app.smtp.messages().len(), 100);
}

#[tokio::test]
async fn one_invitation_may_carry_a_personal_message_checked_like_the_form() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let token = app.api_token(Some(&org), &["invitations.manage"]).await;
    let refused = post(
        &app,
        &token,
        "",
        &json!({"surname": "Curie", "email": "marie@example.org", "message": "x".repeat(1_001)}),
        None,
    )
    .await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "message");
    assert_eq!(invitation_count(&app, &org.id).await, 0);

    let created = post(
        &app,
        &token,
        "",
        &json!({"surname": "Curie", "email": "marie@example.org", "message": "Welcome!\nSee you on Monday."}),
        None,
    )
    .await;
    assert_eq!(created.status(), 201);
    let mail = app.mail_to("marie@example.org").await;
    assert_eq!(mail.subject, "You are invited to Astro on Roster");
    let text = mail.text.replace("\r\n", "\n");
    assert!(
        text.contains("Message from the sender:\n\nWelcome!\nSee you on Monday.\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_batch_message_goes_with_each_new_invitation_and_a_bad_one_is_refused_by_field() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let token = app.api_token(Some(&org), &["invitations.manage"]).await;
    let too_long = json!({
        "invitations": [{"surname": "Curie", "email": "marie@example.org"}],
        "message": "x".repeat(1_001),
    });
    let response = post(&app, &token, "", &too_long, None).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        header(&response, "content-type"),
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "message");
    assert_eq!(invitation_count(&app, &org.id).await, 0);

    let body = json!({
        "invitations": [{"surname": "Curie", "email": "marie@example.org"}],
        "message": "Welcome to Astro.\nBring a laptop.",
    });
    let response = post(&app, &token, "", &body, None).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(outcomes(&answer), ["created"]);
    app.deliver_mail().await;
    let mail = app
        .smtp
        .messages()
        .into_iter()
        .find(|mail| mail.is_to("marie@example.org"))
        .expect("the invitation mail");
    assert!(
        mail.text
            .replace("\r\n", "\n")
            .contains("Welcome to Astro.\nBring a laptop.\n"),
        "{}",
        mail.text
    );
}
