//! The site-wide LDAP drift report (`/admin/drift`, `roster reconcile`): out-of-band changes
//! on the real slapd show as items, each repaired on its own through the confirmation
//! page, "repair all" keeps to the threshold, and the scheduled dry run mails site admins
//! when the count changes.
//!
//! The test slapd starts with the sample people and groups (`sample-people.ldif`), which
//! Roster does not know: they are unknown entries, the baseline every test starts from.

use std::collections::HashSet;

use ldap3::Mod;
use reqwest::StatusCode;
use roster::domain::Role;
use roster::jobs::ldap_drift::Subject;

use crate::cli::{roster, write_config};
use crate::support::app::{Browser, Page, TestApp, into_page, location};
use crate::support::slapd::SAMPLE_PEOPLE;

/// The sample LDIF's groups under ou=groups.
const SAMPLE_GROUPS: usize = 5;
/// The sample entries Roster does not know once `jsmith` is linked as a member.
const BASELINE_UNKNOWN: usize = SAMPLE_PEOPLE - 1 + SAMPLE_GROUPS;
const STRANGER: &str = "uid=stranger,ou=people,dc=example,dc=org";

/// An organisation `driftlab` with two activated members, a sample person linked from the
/// directory (`jsmith`, whose entry the portal does not write) and a resource, settled in
/// LDAP; returns the signed-in site admin's browser.
async fn settled_site(app: &TestApp) -> Browser {
    let org = app.create_org("Drift Lab", "driftlab").await;
    app.activated_member(&org, "ada").await;
    app.activated_member(&org, "bob").await;
    app.create_resource(&org, "gpu", "cluster").await;
    let admin = app
        .staff_browser("admin@example.org", Role::SiteAdmin)
        .await;
    let token = admin
        .page(&format!("/orgs/{}/directory", org.id))
        .await
        .csrf_token();
    let linked = admin
        .post_form(
            &format!("/orgs/{}/members", org.id),
            &[("csrf_token", &token), ("uid", "jsmith")],
        )
        .await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&linked).contains("done=added"),
        "{}",
        location(&linked)
    );
    app.run_jobs().await;
    admin
}

/// The four out-of-band changes: a memberUid added by hand to the organisation's group, a
/// member's loginShell changed, an unknown person added, the resource's group deleted.
/// The linked person's entry changes too, which is not the portal's to compare.
async fn change_out_of_band(app: &TestApp) {
    let mut ldap = app.slapd.admin_conn().await;
    ldap.modify(
        &app.slapd.person_dn("jsmith"),
        vec![Mod::Replace("loginShell", HashSet::from(["/bin/tcsh"]))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    ldap.modify(
        "cn=driftlab,ou=groups,dc=example,dc=org",
        vec![Mod::Add("memberUid", HashSet::from(["intruder"]))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    ldap.modify(
        &app.slapd.person_dn("ada"),
        vec![Mod::Replace("loginShell", HashSet::from(["/bin/zsh"]))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    ldap.add(
        STRANGER,
        vec![
            ("objectClass", HashSet::from(["inetOrgPerson"])),
            ("uid", HashSet::from(["stranger"])),
            ("cn", HashSet::from(["Some Stranger"])),
            ("sn", HashSet::from(["Stranger"])),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    ldap.delete("cn=driftlab-gpu,ou=resources,dc=example,dc=org")
        .await
        .unwrap()
        .success()
        .unwrap();
}

fn rows(page: &Page, subject: &str, column: &str) -> Vec<String> {
    page.select_all(&format!("table[data-subject={subject}] td.{column}"))
}

/// The page's items other than the sample directory's unknown entries.
fn made_by_the_test(page: &Page) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for subject in ["account", "group", "resource", "unknown"] {
        let names = rows(page, subject, "name");
        let problems = rows(page, subject, "problem");
        for (name, problem) in names.into_iter().zip(problems) {
            let sample = subject == "unknown" && name != STRANGER;
            if !sample {
                found.push((format!("{subject} {name}"), problem));
            }
        }
    }
    found
}

fn drifted() -> Vec<(String, String)> {
    vec![
        (
            "account ada".into(),
            "loginShell is /bin/zsh, expected /bin/bash".into(),
        ),
        (
            "group driftlab".into(),
            "memberUid has extra intruder".into(),
        ),
        ("resource driftlab-gpu".into(), "missing from LDAP".into()),
        (format!("unknown {STRANGER}"), "not known to Roster".into()),
    ]
}

fn cli_config(app: &TestApp, dir: &std::path::Path) -> std::path::PathBuf {
    write_config(app, dir, "127.0.0.1:0", "")
}

#[tokio::test]
async fn out_of_band_changes_show_and_are_repaired_one_by_one() {
    let app = TestApp::spawn().await;
    let admin = settled_site(&app).await;

    // The baseline: only the sample directory, which Roster does not know.
    let page = admin.page("/admin/drift").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        made_by_the_test(&page).is_empty(),
        "{:?}",
        made_by_the_test(&page)
    );
    let unknown = rows(&page, "unknown", "name");
    assert_eq!(unknown.len(), BASELINE_UNKNOWN);
    assert!(
        !unknown.contains(&app.slapd.person_dn("jsmith")),
        "linked: known"
    );
    for row in page.select_all("table.drift td") {
        assert!(!row.contains("{CRYPT}"), "no password hash is ever shown");
    }

    change_out_of_band(&app).await;
    let page = admin.page("/admin/drift").await;
    assert_eq!(made_by_the_test(&page), drifted());
    assert_eq!(
        page.text(".drift-total"),
        (BASELINE_UNKNOWN + 4).to_string()
    );
    // Every cell is labelled for narrow screens.
    let cells = page.select_all("table.drift td").len();
    assert_eq!(page.attr_all("table.drift td", "data-label").len(), cells);

    // The command line says the same, one line each, then the counts (exit status 3).
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(&app, dir.path());
    let output = roster()
        .arg("--config")
        .arg(&config)
        .arg("reconcile")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8(output.stdout).unwrap();
    for line in [
        "account ada: loginShell is /bin/zsh, expected /bin/bash",
        "group driftlab: memberUid has extra intruder",
        "resource driftlab-gpu: missing from LDAP",
        &format!("unknown {STRANGER}: not known to Roster"),
    ] {
        assert!(
            stdout.lines().any(|out| out == line),
            "{line} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains(&format!("{} difference(s) among", BASELINE_UNKNOWN + 4)),
        "{stdout}"
    );
    // One organisation: its group, its members' accounts and its resources only.
    let output = roster()
        .arg("--config")
        .arg(&config)
        .args(["reconcile", "--org", "driftlab"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "group driftlab: memberUid has extra intruder",
            "account ada: loginShell is /bin/zsh, expected /bin/bash",
            "resource driftlab-gpu: missing from LDAP",
        ],
        "{stdout}"
    );
    assert!(lines[3].starts_with("3 difference(s) among"), "{stdout}");
    let output = roster()
        .arg("--config")
        .arg(&config)
        .args(["reconcile", "--org", "nosuchorg"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    // Helpdesk may not see it.
    let helpdesk = app.staff_browser("help@example.org", Role::Helpdesk).await;
    assert_eq!(
        helpdesk.get("/admin/drift").await.status(),
        StatusCode::FORBIDDEN
    );

    // "Repair all" would touch far more than 10% of the entries: refused, nothing done.
    let refused = admin.get("/admin/drift/repair-all").await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let text = refused.text().await.unwrap();
    assert!(text.contains("would touch more than 10%"), "{text}");
    let token = page.csrf_token();
    let refused = admin
        .post_form("/admin/drift/repair-all", &[("csrf_token", &token)])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(app.slapd.search_entry(STRANGER).await.is_some());
    assert!(
        app.slapd
            .search_entry(&app.slapd.person_dn("amueller"))
            .await
            .is_some()
    );

    // Each item: its link shows the confirmation, which posts the repair.
    let links = page.attr_all("table.drift a.repair", "href");
    for (subject, name) in [
        ("account", "ada"),
        ("group", "driftlab"),
        ("resource", "driftlab-gpu"),
        ("unknown", STRANGER),
    ] {
        let link = links
            .iter()
            .find(|link| {
                link.contains(&format!("subject={subject}&"))
                    && link.contains(&format!("name={}", serde_urlencoded_value(name)))
            })
            .unwrap_or_else(|| panic!("a repair link for {subject} {name} in {links:?}"));
        let confirmation = admin.page(link).await;
        assert_eq!(confirmation.status, StatusCode::OK, "{link}");
        assert!(
            confirmation.text("h1").contains(name),
            "{}",
            confirmation.text("h1")
        );
        assert_eq!(
            confirmation
                .attr("form.confirm-actions", "action")
                .as_deref(),
            Some("/admin/drift/repair")
        );
        let done = admin
            .submit(
                link,
                "/admin/drift/repair",
                &[("subject", subject), ("name", name)],
            )
            .await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{subject} {name}");
        assert_eq!(location(&done), "/admin/drift?done=repaired");
    }

    // LDAP is fixed.
    let ada = app
        .slapd
        .search_entry(&app.slapd.person_dn("ada"))
        .await
        .unwrap();
    assert_eq!(ada.attrs["loginShell"], vec!["/bin/bash".to_string()]);
    assert_eq!(
        app.ldap_member_uids("driftlab").await.unwrap(),
        vec!["ada".to_string(), "bob".to_string(), "jsmith".to_string()]
    );
    let gpu = app
        .slapd
        .search_entry("cn=driftlab-gpu,ou=resources,dc=example,dc=org")
        .await
        .expect("the resource group is back");
    assert!(gpu.attrs.contains_key("gidNumber"));
    assert!(app.slapd.search_entry(STRANGER).await.is_none());

    // Only the sample directory is left; the notice says what was done.
    let page = admin.page("/admin/drift?done=repaired").await;
    assert!(
        made_by_the_test(&page).is_empty(),
        "{:?}",
        made_by_the_test(&page)
    );
    assert!(page.select_all("table[data-subject=account]").is_empty());

    // Repairing an item that no longer differs is a clear 409, and changes nothing.
    let again = admin
        .submit(
            "/admin/drift",
            "/admin/drift/repair",
            &[("subject", "account"), ("name", "ada")],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let text = again.text().await.unwrap();
    assert!(text.contains("no longer differs"), "{text}");
    let again = admin
        .get(&format!(
            "/admin/drift/repair?subject=unknown&name={}",
            serde_urlencoded_value(STRANGER)
        ))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    // Bad input is a 400 with a message.
    let bad = admin.get("/admin/drift/repair?subject=planet&name=x").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let page = into_page(bad).await;
    assert!(page.html.html().contains("subject must be account"));

    // One audit event per repair.
    let pool = app.database.pool().await;
    let (repairs,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = 'ldap.drift_repaired'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(repairs, 4);
    app.assert_directory_settled().await;
}

fn serde_urlencoded_value(value: &str) -> String {
    roster::web::pages::query_value(value)
}

#[tokio::test]
async fn repair_all_keeps_to_the_threshold_on_the_command_line() {
    let app = TestApp::spawn().await;
    settled_site(&app).await;
    change_out_of_band(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(&app, dir.path());

    let output = roster()
        .arg("--config")
        .arg(&config)
        .args(["reconcile", "--apply"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("more than 10%"), "{stderr}");
    assert!(
        app.slapd.search_entry(STRANGER).await.is_some(),
        "nothing done"
    );
    let ada = app
        .slapd
        .search_entry(&app.slapd.person_dn("ada"))
        .await
        .unwrap();
    assert_eq!(ada.attrs["loginShell"], vec!["/bin/zsh".to_string()]);

    // One organisation's three items are well within 10% of the entries...
    let output = roster()
        .arg("--config")
        .arg(&config)
        .args([
            "reconcile",
            "--apply",
            "--org",
            "driftlab",
            "--max-change",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "but not within 0%");
    let output = roster()
        .arg("--config")
        .arg(&config)
        .args(["reconcile", "--apply", "--org", "driftlab"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("repaired: 3 item(s)"), "{stdout}");
    let ada = app
        .slapd
        .search_entry(&app.slapd.person_dn("ada"))
        .await
        .unwrap();
    assert_eq!(ada.attrs["loginShell"], vec!["/bin/bash".to_string()]);

    // --max-change overrides the setting: everything, the sample directory too.
    let output = roster()
        .arg("--config")
        .arg(&config)
        .args(["reconcile", "--apply", "--max-change", "100"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.ends_with("0 difference(s) among 7 entries: 0 missing, 0 attribute, 0 member mismatch(es), 0 unknown\n"), "{stdout}");
    assert!(app.slapd.search_entry(STRANGER).await.is_none());
    let report = roster::usecases::reconcile::drift_report(&app.context)
        .await
        .unwrap();
    assert!(report.items.is_empty(), "{:?}", report.items);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn the_scheduled_dry_run_mails_site_admins_when_the_count_changes() {
    let app = TestApp::spawn().await;
    settled_site(&app).await;
    let dry_run = || roster::usecases::reconcile::scheduled_dry_run(&app.context);

    let (report, mailed) = dry_run().await.unwrap();
    assert_eq!(report.items.len(), BASELINE_UNKNOWN);
    assert!(
        report
            .items
            .iter()
            .all(|item| item.subject == Subject::Unknown),
        "{:?}",
        report.items
    );
    assert!(mailed, "the first count is news");
    let (_, again) = dry_run().await.unwrap();
    assert!(!again, "the same count is not mailed twice");

    change_out_of_band(&app).await;
    let (report, mailed) = dry_run().await.unwrap();
    let counts = report.counts();
    assert_eq!(
        (
            counts.missing,
            counts.attributes,
            counts.members,
            counts.unknown
        ),
        (1, 1, 1, BASELINE_UNKNOWN + 1)
    );
    assert!(mailed);
    let (_, again) = dry_run().await.unwrap();
    assert!(!again);

    app.deliver_mail().await;
    let notices: Vec<_> = app
        .smtp
        .messages()
        .into_iter()
        .filter(|mail| mail.subject.starts_with("LDAP:"))
        .collect();
    assert_eq!(notices.len(), 2);
    assert!(notices.iter().all(|mail| mail.is_to("admin@example.org")));
    assert!(
        notices[1].subject.contains("58 difference(s)"),
        "{}",
        notices[1].subject
    );
}

#[tokio::test]
async fn the_report_reads_more_entries_than_one_page() {
    let app = TestApp::spawn().await;
    settled_site(&app).await;
    let uids: Vec<String> = (0..1_100).map(|n| format!("old{n:04}")).collect();
    crate::support::api::add_directory_people(&app, &uids).await;
    let report = roster::usecases::reconcile::drift_report(&app.context)
        .await
        .unwrap();
    // 2 + 50 + 1,100 people, 3 + 5 groups and a resource group.
    assert_eq!(report.entries, 1_161);
    assert_eq!(report.counts().unknown, BASELINE_UNKNOWN + 1_100);
    assert_eq!(report.items.len(), BASELINE_UNKNOWN + 1_100);
    let unknown: HashSet<&str> = report.items.iter().map(|item| item.name.as_str()).collect();
    assert!(unknown.contains("uid=old1099,ou=people,dc=example,dc=org"));
}

#[tokio::test]
async fn repair_all_on_the_page_asks_first_then_repairs_everything() {
    let app = TestApp::spawn_with(|settings| settings.reconcile.max_change_percent = 100).await;
    let admin = settled_site(&app).await;
    change_out_of_band(&app).await;
    // A password hash changed by hand: the page says only that it differs.
    let mut ldap = app.slapd.admin_conn().await;
    ldap.modify(
        &app.slapd.person_dn("bob"),
        vec![Mod::Replace(
            "userPassword",
            HashSet::from(["{CRYPT}$2b$04$handmadehandmadehandmadehandmadehandmadehandmadeha"]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let report = admin.page("/admin/drift").await;
    assert_eq!(
        rows(&report, "account", "name"),
        vec!["ada".to_string(), "bob".to_string()]
    );
    assert_eq!(
        rows(&report, "account", "problem")[1],
        "userPassword differs"
    );
    assert!(!report.html.html().contains("handmade"));

    let page = admin.page("/admin/drift/repair-all").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.text("h1"),
        format!("Repair all {} differences?", BASELINE_UNKNOWN + 5)
    );
    assert_eq!(
        page.attr("form.confirm-actions", "action").as_deref(),
        Some("/admin/drift/repair-all")
    );
    let consequences = page.select_all(".consequence");
    assert!(
        consequences.iter().any(|text| text
            == &format!(
                "{} entries Roster does not know will be deleted from LDAP.",
                BASELINE_UNKNOWN + 1
            )),
        "{consequences:?}"
    );
    // Asking changed nothing.
    assert!(app.slapd.search_entry(STRANGER).await.is_some());

    let done = admin
        .submit("/admin/drift/repair-all", "/admin/drift/repair-all", &[])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let page = admin.page(&location(&done)).await;
    assert_eq!(
        page.text(".notice"),
        format!("Repaired {} items.", BASELINE_UNKNOWN + 5)
    );
    assert_eq!(
        page.text(".in-step"),
        "No differences: LDAP is in step with Roster."
    );
    assert!(app.slapd.search_entry(STRANGER).await.is_none());
    assert!(
        app.slapd
            .search_entry(&app.slapd.person_dn("amueller"))
            .await
            .is_none()
    );
    // The linked person's entry is not Roster's to rewrite.
    let jsmith = app
        .slapd
        .search_entry(&app.slapd.person_dn("jsmith"))
        .await
        .unwrap();
    assert_eq!(jsmith.attrs["loginShell"], vec!["/bin/tcsh".to_string()]);
    // Nothing left to repair: a clear 409.
    let nothing = admin.get("/admin/drift/repair-all").await;
    assert_eq!(nothing.status(), StatusCode::CONFLICT);
    app.assert_directory_settled().await;
}
