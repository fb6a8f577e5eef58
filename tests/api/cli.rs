//! The `roster` binary itself: help, config errors, migrate, admin invite and serve.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, invitation_link};

pub(crate) fn roster() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    // Only what the test sets: no ROSTER_* from the developer's shell.
    for (name, _) in std::env::vars() {
        if name.starts_with("ROSTER_") {
            command.env_remove(name);
        }
    }
    command.env("ROSTER_LOG", "warn");
    command
}

/// A config file for `app`'s slapd, SMTP sink and database.
pub(crate) fn write_config(
    app: &TestApp,
    dir: &std::path::Path,
    listen: &str,
    extra: &str,
) -> std::path::PathBuf {
    let s = &app.settings;
    let text = format!(
        r#"
[server]
listen = "{listen}"
public_url = "{public_url}"
session_secret = "{secret}"

[database]
url = "{database}"

[ldap]
url = "{ldap_url}"
bind_dn = "{bind_dn}"
bind_password_file = "{password_file}"
base_dn = "{base_dn}"
people_dn = "{people_dn}"
groups_dn = "{groups_dn}"
resources_base = "{resources_base}"
uid_number_min = 100000
uid_number_max = 199999
gid_number_min = 100000
gid_number_max = 199999

[mail]
transport = "smtp"
smtp_host = "{smtp_host}"
smtp_port = {smtp_port}
smtp_tls = "none"
from = "Roster <roster@example.org>"

[security]
bcrypt_cost = 4
{extra}
"#,
        public_url = app.address,
        secret = s.server.session_secret.expose(),
        database = s.database.url.expose(),
        ldap_url = s.ldap.url,
        bind_dn = s.ldap.bind_dn,
        password_file = dir.join("ldap-password").display(),
        base_dn = s.ldap.base_dn,
        people_dn = s.ldap.people_dn,
        groups_dn = s.ldap.groups_dn,
        resources_base = s.ldap.resources_base,
        smtp_host = s.mail.smtp_host,
        smtp_port = s.mail.smtp_port,
    );
    std::fs::write(
        dir.join("ldap-password"),
        format!("{}\n", s.ldap.bind_password.expose()),
    )
    .unwrap();
    let path = dir.join("roster.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "invite", "--help"],
        vec!["lifecycle", "run", "--help"],
        vec!["adopt", "plan", "--help"],
        vec!["adopt", "apply", "--help"],
        vec!["adopt", "claim", "--help"],
        vec!["backup", "--help"],
        vec!["restore", "--help"],
    ] {
        let output = roster().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(text.contains("Usage: roster"), "{args:?}: {text}");
    }
}

#[tokio::test]
async fn an_unknown_config_key_stops_start_up_with_a_clear_error() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "bcrypt_costs = 10\n");
    let output = roster()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "error: configuration: unknown key `security.bcrypt_costs`"
    );

    // The same for a misspelt environment override.
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let output = roster()
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .env("ROSTER_LDAP__BIND_PASWORD", "x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("unknown key `ldap.bind_pasword`"),
        "{stderr}"
    );

    let output = roster()
        .args(["--config", "/no/such/roster.toml", "migrate"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("/no/such/roster.toml: no such file")
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn admin_invite_prints_the_emailed_link_which_activates_the_admin() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let output = roster()
        .arg("--config")
        .arg(&config)
        .args([
            "admin",
            "invite",
            "--email",
            "root@example.org",
            "--surname",
            "Root",
            "--given-name",
            "Ruth",
        ])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let printed = stdout.lines().last().unwrap().to_string();
    assert!(
        printed.starts_with(&format!("{}/invitations/", app.address)),
        "{printed}"
    );

    let mail = app.mail_to("root@example.org").await;
    assert_eq!(invitation_link(&mail), printed);
    assert!(mail.text.contains("Hello Ruth Root"));

    let browser = app.new_browser();
    assert_eq!(
        browser
            .accept_invitation(&printed, GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    let fresh = app.new_browser();
    assert_eq!(
        fresh
            .sign_in("root@example.org", GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(
        fresh.page("/").await.select_all(".facts dd")[2],
        "Site administrator"
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn admin_invite_with_the_mail_server_down_prints_the_link_and_the_mail_follows() {
    let mut app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    app.smtp.stop();
    let output = tokio::task::spawn_blocking(move || {
        roster()
            .arg("--config")
            .arg(&config)
            .args([
                "admin",
                "invite",
                "--email",
                "root@example.org",
                "--surname",
                "Root",
            ])
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("waits in the mail outbox"), "{stderr}");
    let printed = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    // The running portal's worker sends it once the server is back.
    app.smtp.restart();
    app.context.clock.advance(60);
    app.deliver_mail().await;
    let mail = app.mail_to("root@example.org").await;
    assert_eq!(invitation_link(&mail), printed);
}

#[tokio::test]
async fn admin_invite_refuses_a_malformed_email() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let output = roster()
        .arg("--config")
        .arg(&config)
        .args([
            "admin",
            "invite",
            "--email",
            "not-an-email",
            "--surname",
            "X",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--email: Enter an email address like name@example.org."),
        "{stderr}"
    );
    app.assert_directory_settled().await;
}

/// Kills the server process when the test ends, pass or fail.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_answers_healthz_within_two_seconds_and_migrate_is_idempotent() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = write_config(&app, dir.path(), &format!("127.0.0.1:{port}"), "");
    for _ in 0..2 {
        let output = roster()
            .arg("--config")
            .arg(&config)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let started = Instant::now();
    let _server = ChildGuard(
        roster()
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let browser = Browser::new(&format!("http://127.0.0.1:{port}"));
    let mut healthy = false;
    while started.elapsed() < Duration::from_secs(2) {
        if let Ok(response) = browser
            .client
            .get(format!("{}/healthz", browser.base))
            .send()
            .await
        {
            healthy = response.status() == 200;
            if healthy {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(healthy, "no /healthz 200 within 2 s of start");
    assert_eq!(browser.get("/readyz").await.status(), 200);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn org_and_invite_commands_provision_through_the_same_code_as_the_web() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let run = |args: &[&str]| {
        let output = roster()
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, stdout, stderr) = run(&[
        "org",
        "create",
        "--name",
        "Astrophysics Lab",
        "--short-name",
        "astro",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let org_id = stdout.lines().last().unwrap().to_string();
    let org = app
        .context
        .store
        .organisation(&org_id)
        .await
        .unwrap()
        .expect("created");
    assert_eq!(org.short_name, "astro");
    assert!(stderr.contains("its LDAP group is in place"), "{stderr}");
    assert_eq!(app.ldap_member_uids("astro").await, Some(vec![]));

    let (code, _, stderr) = run(&["org", "create", "--name", "Again", "--short-name", "astro"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr
            .contains("--short-name: an organisation with the short name \"astro\" already exists"),
        "{stderr}"
    );

    let (code, stdout, stderr) = run(&[
        "invite",
        "create",
        "--org",
        "astro",
        "--email",
        "pi@example.org",
        "--surname",
        "Curie",
        "--role",
        "owner",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let link = stdout.lines().last().unwrap().to_string();
    app.mail_with_link(&link).await;
    let (code, _, stderr) = run(&[
        "invite",
        "create",
        "--org",
        "nosuch",
        "--email",
        "x@example.org",
        "--surname",
        "X",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--org: no organisation is called nosuch"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        "invite",
        "create",
        "--org",
        "astro",
        "--email",
        "x@example.org",
        "--surname",
        "X",
        "--role",
        "admin",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--role: use member, manager or owner"),
        "{stderr}"
    );

    // The PI accepts and is the owner.
    let browser = app.new_browser();
    assert_eq!(
        browser
            .accept_invitation(&link, GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(
        browser
            .get(&format!("/orgs/{org_id}/history"))
            .await
            .status(),
        200
    );

    let (code, stdout, _) = run(&["invite", "list", "--org", "astro"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "state\temail\tsurname\trole\tsent\texpires\tinvited_by"
    );
    assert!(
        lines[1].starts_with("accepted\tpi@example.org\tCurie\towner\t"),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 2);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn lifecycle_run_sends_the_reminders_due_once_and_says_what_it_did() {
    use roster::domain::Role;
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    app.activated_member(&org, "ada").await;
    let ends_on = crate::lifecycle::iso_in(7);
    crate::lifecycle::set_end_date(&owner, &org.id, "ada", &ends_on).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let run = || {
        let output = roster()
            .arg("--config")
            .arg(&config)
            .args(["lifecycle", "run"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(
        run(),
        "reminders sent: 1\nmemberships ended: 0\naccounts locked: 0\n"
    );
    crate::staff::mail_with_subject(
        &app,
        "ada@example.org",
        &format!("Your membership of Astro ends on {ends_on}"),
    )
    .await;
    assert!(run().starts_with("reminders sent: 0\n"));
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn resource_commands_create_list_and_retire() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    app.activated_member(&astro, "mia").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let run = |args: Vec<&'static str>| {
        let config = config.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                roster()
                    .arg("--config")
                    .arg(&config)
                    .args(args)
                    .stderr(Stdio::piped())
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let created = run(vec![
        "resource",
        "create",
        "--org",
        "astro",
        "--short-name",
        "gpu",
        "--name",
        "GPU cluster",
        "--kind",
        "cluster",
        "--site",
        "Hall B",
    ])
    .await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let id = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(app.context.store.resource(&id).await.unwrap().is_some());
    let refused = run(vec![
        "resource",
        "create",
        "--org",
        "astro",
        "--short-name",
        "gpu",
        "--name",
        "Again",
        "--kind",
        "cluster",
    ])
    .await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a taken name is a usage error"
    );
    let bad_kind = run(vec![
        "resource",
        "create",
        "--org",
        "astro",
        "--short-name",
        "x",
        "--name",
        "X",
        "--kind",
        "spaceship",
    ])
    .await;
    assert_eq!(bad_kind.status.code(), Some(2));
    let list = run(vec!["resource", "list", "--org", "astro"]).await;
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(
        listed.contains("astro-gpu\tcluster\tactive\tHall B\t\tGPU cluster"),
        "{listed}"
    );
    let retired = run(vec!["resource", "retire", "astro-gpu"]).await;
    assert!(
        retired.status.success(),
        "{}",
        String::from_utf8_lossy(&retired.stderr)
    );
    let list = run(vec!["resource", "list"]).await;
    assert!(
        String::from_utf8(list.stdout)
            .unwrap()
            .contains("astro-gpu\tcluster\tretired")
    );
    app.run_jobs().await;
    let entry = app
        .slapd
        .search_entry("cn=astro-gpu,ou=resources,dc=example,dc=org")
        .await
        .unwrap();
    assert!(
        !entry.attrs.contains_key("memberUid"),
        "retired: emptied, kept"
    );
}
