//! The API's documents hold: the OpenAPI description covers every route, the example
//! script and the tutorial's commands run to the end against a real portal.

use std::process::Command;

use serde_json::Value;

use crate::support::api::{add_directory_people, script_http};
use crate::support::app::TestApp;

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let app = TestApp::spawn().await;
    let response = script_http()
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for (method, path) in roster::web::api::ROUTES {
        let operation = &document["paths"][path][method];
        assert!(
            operation.is_object(),
            "{method} {path} is not in openapi.json"
        );
        assert!(
            operation["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    assert!(document["components"]["schemas"]["MemberBatchBody"].is_object());
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn the_example_provisioning_script_runs_to_the_end() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astronomy", "astro").await;
    let people: Vec<String> = (0..10).map(|n| format!("example{n}")).collect();
    add_directory_people(&app, &people).await;
    let credentials = app
        .api_client(
            Some(&astro),
            &["org.view", "members.manage", "invitations.manage"],
        )
        .await;
    let mut command = Command::new("python3");
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/provision.py"
        ))
        .args(["--url", &app.address])
        .args(["--client-id", &credentials.id])
        .args(["--client-secret", &credentials.secret])
        .args(["--org", "astro"])
        .args([
            "--invite-email",
            "ada@example.org",
            "--invite-surname",
            "Lovelace",
        ]);
    for uid in &people {
        command.args(["--add", uid]);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "provision.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("provision.py: done"), "{stdout}");
    assert!(stdout.contains("304"), "{stdout}");
    let mut in_ldap = app.ldap_member_uids("astro").await.unwrap();
    in_ldap.sort();
    assert_eq!(in_ldap, people);
    app.mail_to("ada@example.org").await;
    app.assert_directory_settled().await;
}

/// The ```sh blocks of docs/api.md, in order.
fn tutorial_commands() -> String {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    let mut script = String::new();
    let mut inside = false;
    for line in text.lines() {
        if inside && line.trim_end() == "```" {
            inside = false;
        } else if inside {
            script.push_str(line);
            script.push('\n');
        } else if line.trim_end() == "```sh" {
            inside = true;
        }
    }
    script
}

#[tokio::test]
async fn the_tutorials_commands_run_to_the_end() {
    let app = TestApp::spawn().await;
    app.create_org("Astronomy", "astro").await;
    // The tutorial's layout: the binary under target/release, the config in demo-data.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_roster"),
        dir.path().join("target/release/roster"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("demo-data")).unwrap();
    let config = crate::cli::write_config(&app, &dir.path().join("demo-data"), "127.0.0.1:0", "");
    assert!(config.ends_with("demo-data/roster.toml"));
    let script = tutorial_commands().replace(
        "ROSTER=http://127.0.0.1:8080",
        &format!("ROSTER={}", app.address),
    );
    assert!(
        script.contains(&format!("ROSTER={}", app.address)),
        "the tutorial sets ROSTER"
    );
    let home = dir.path().to_path_buf();
    // Off the test's runtime, which drives the portal's LDAP connections meanwhile.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&home)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("ROSTER_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the tutorial stopped:\n{stdout}\n{stderr}"
    );
    // The statuses the tutorial promises, in its order; one line is the remaining rate.
    let mut statuses: Vec<&str> = stdout
        .lines()
        .filter(|line| line.len() == 3 && line.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(statuses.len(), 15, "{stdout}");
    let remaining: u32 = statuses.remove(12).parse().unwrap();
    assert!(remaining < 300, "RateLimit-Remaining {remaining}");
    assert_eq!(
        statuses,
        vec![
            "200", "200", "304", "201", "200", "200", "200", "200", "412", "200", "200", "422",
            "200", "401"
        ],
        "{stdout}"
    );
    // The class: planned, then invited.
    assert!(
        stdout.contains("line 2: greta.mueller@example.org create\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 3: sean.obrien@example.org created\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("valid until"),
        "the PyJWT check ran: {stdout}"
    );
    assert!(stdout.contains("invalid_client"), "{stdout}");
    let mut members = app.ldap_member_uids("astro").await.unwrap();
    members.sort();
    assert_eq!(members.len(), 10, "{members:?}");
}
