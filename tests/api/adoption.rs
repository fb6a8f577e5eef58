//! Adopting an existing directory (`roster adopt plan`, `roster adopt apply`) on a slapd
//! seeded like a real site's: 2,000 people and 60 groups, with 5 duplicate uidNumbers, 10
//! people without mail, 3 groups without owners and 50 people in no group.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use roster::domain::adoption::read_plan;

use crate::cli::{roster, write_config};
use crate::support::app::TestApp;

const PEOPLE: usize = 2_000;
const GROUPS: usize = 60;
const FIRST_UID: usize = 50_000;
const FIRST_GID: usize = 60_000;
/// People 1950..2000 are in no group.
const GROUPED: usize = 1_950;

fn uid(i: usize) -> String {
    format!("user{i:04}")
}

fn person_dn(i: usize) -> String {
    format!("uid={},ou=people,dc=example,dc=org", uid(i))
}

fn group_dn(g: usize) -> String {
    format!("cn=grp{g:02},ou=groups,dc=example,dc=org")
}

/// People 10..15 share their uidNumber with people 1010..1015.
fn uid_number(i: usize) -> usize {
    if (1_010..1_015).contains(&i) {
        FIRST_UID + i - 1_000
    } else {
        FIRST_UID + i
    }
}

/// The seeded conflicts, by DN: exactly what the plan must list.
fn seeded_conflicts() -> BTreeSet<String> {
    let mut dns = BTreeSet::new();
    for i in (10..15).chain(1_010..1_015).chain(100..110) {
        dns.insert(person_dn(i));
    }
    for g in 57..60 {
        dns.insert(group_dn(g));
    }
    dns
}

/// The directory as LDIF: people (some with SSH keys), groups with an owner (by DN) except
/// the last three, and members spread over the groups.
fn existing_directory(dir: &Path) -> PathBuf {
    let mut ldif = String::new();
    for i in 0..PEOPLE {
        let gid = if i < GROUPED {
            FIRST_GID + i % GROUPS
        } else {
            100
        };
        ldif.push_str(&format!(
            "dn: {dn}\nobjectClass: top\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             objectClass: ldapPublicKey\nuid: {uid}\ncn: Person {i}\nsn: Person\ngivenName: Number{i}\n\
             uidNumber: {number}\ngidNumber: {gid}\nhomeDirectory: /data/home/{uid}\n\
             loginShell: /bin/tcsh\nuserPassword: old-secret-{i}\n",
            dn = person_dn(i),
            uid = uid(i),
            number = uid_number(i),
        ));
        if !(100..110).contains(&i) {
            ldif.push_str(&format!("mail: {}@example.org\n", uid(i)));
        }
        if i % 7 == 0 {
            ldif.push_str("sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbJ0aSBhKA7g+2dJ0b5C5d6mTSt6S9ObOBiyMEj0Uqp legacy\n");
        }
        ldif.push('\n');
    }
    for g in 0..GROUPS {
        let owner = if g < 57 {
            format!(
                "objectClass: extensibleObject\nowner: {}\n",
                person_dn(180 + g)
            )
        } else {
            String::new()
        };
        ldif.push_str(&format!(
            "dn: {dn}\nobjectClass: top\nobjectClass: posixGroup\n{owner}cn: grp{g:02}\n\
             gidNumber: {gid}\ndescription: Group {g} of the old directory\n",
            dn = group_dn(g),
            gid = FIRST_GID + g,
        ));
        for i in (g..GROUPED).step_by(GROUPS) {
            ldif.push_str(&format!("memberUid: {}\n", uid(i)));
        }
        ldif.push('\n');
    }
    let path = dir.join("existing.ldif");
    std::fs::write(&path, ldif).unwrap();
    path
}

struct Site {
    app: TestApp,
    dir: tempfile::TempDir,
    config: PathBuf,
}

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let seed = existing_directory(dir.path());
    // The portal's own ranges overlap the adopted numbers' tail, so a new account would
    // take an adopted number if it were not reserved.
    let app = TestApp::spawn_on_directory(vec![seed], |settings| {
        settings.ldap.uid_number_min = u32::try_from(FIRST_UID + 1_990).unwrap();
        settings.ldap.gid_number_min = u32::try_from(FIRST_GID).unwrap();
    })
    .await;
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    Site { app, dir, config }
}

impl Site {
    fn run(&self, args: &[&str]) -> Output {
        roster()
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    fn plan(&self, extra: &[&str]) -> (PathBuf, String) {
        let path = self.dir.path().join("plan.toml");
        let mut args = vec!["adopt", "plan", "--out", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let output = self.run(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        (path, stderr(&output))
    }

    /// Every entry under the base: DN → attributes (with modifyTimestamp) → values.
    async fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
        let mut ldap = self.app.slapd.admin_conn().await;
        let (entries, _) = ldap
            .search(
                "dc=example,dc=org",
                ldap3::Scope::Subtree,
                "(objectClass=*)",
                vec!["*", "modifyTimestamp"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        entries
            .into_iter()
            .map(|entry| {
                let entry = ldap3::SearchEntry::construct(entry);
                let mut attrs: BTreeMap<String, Vec<String>> = entry.attrs.into_iter().collect();
                for (name, values) in entry.bin_attrs {
                    attrs.insert(
                        name,
                        values
                            .into_iter()
                            .map(|v| String::from_utf8_lossy(&v).into_owned())
                            .collect(),
                    );
                }
                for values in attrs.values_mut() {
                    values.sort();
                }
                (entry.dn, attrs)
            })
            .collect()
    }

    /// `SELECT COUNT(*) FROM <from_where>`.
    async fn count(&self, from_where: &str) -> i64 {
        let pool = self.app.database.pool().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {from_where}"
        )))
        .fetch_one(&pool)
        .await
        .unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_plan_lists_exactly_the_seeded_conflicts_and_apply_adopts_the_rest_once_without_rewriting_them()
 {
    let site = site().await;
    let (path, summary) = site.plan(&["--personal-groups"]);
    assert!(summary.contains("2060 entries read"), "{summary}");
    let text = std::fs::read_to_string(&path).unwrap();
    let plan = read_plan(&text).unwrap();
    let conflicts: BTreeSet<String> = plan.conflicts.iter().map(|c| c.dn.clone()).collect();
    assert_eq!(conflicts, seeded_conflicts(), "{:#?}", plan.conflicts);
    let reason = |dn: &str| {
        plan.conflicts
            .iter()
            .find(|c| c.dn == dn)
            .map(|c| c.reason.clone())
            .unwrap()
    };
    assert_eq!(
        reason(&person_dn(10)),
        format!(
            "duplicate uidNumber 50010: also held by {}",
            person_dn(1_010)
        )
    );
    assert_eq!(
        reason(&person_dn(100)),
        "no mail: Roster needs one to reach the person"
    );
    assert_eq!(
        reason(&group_dn(58)),
        "no owner: give one in the group's owner attribute or with --owners"
    );
    assert_eq!(plan.people.len(), PEOPLE - 20);
    assert_eq!(plan.organisations.len(), GROUPS - 3);
    assert_eq!(plan.personal.len(), PEOPLE - GROUPED);
    // Numbers and names are kept exactly; members that are conflicts are left out.
    let person = plan.people.iter().find(|p| p.uid == "user0042").unwrap();
    assert_eq!((person.uid_number, person.gid_number), (50_042, 60_042));
    let grp10 = plan.organisations.iter().find(|o| o.cn == "grp10").unwrap();
    assert_eq!(grp10.gid_number, 60_010);
    assert_eq!(grp10.owner, "user0190");
    assert_eq!(grp10.name, "Group 10 of the old directory");
    assert_eq!(grp10.left_out, ["user0010"]);
    assert!(text.contains("# People to adopt as linked accounts (1980)."));

    let before = site.snapshot().await;
    let output = site.run(&["adopt", "apply", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output)
            .contains("adopted 1980 people and 57 organisations, made 50 personal organisations"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        site.count("people WHERE adopted_by_run IS NOT NULL").await,
        1_980
    );
    assert_eq!(
        site.count("people WHERE username = 'user0042' AND adopted_uid_number = 50042 AND adopted_gid_number = 60042 AND password_hash IS NULL").await,
        1
    );
    assert_eq!(
        site.count("organisations WHERE adopted_by_run IS NOT NULL")
            .await,
        107
    );
    assert_eq!(
        site.count("memberships m JOIN organisations o ON o.id = m.organisation_id JOIN people p ON p.id = m.person_id WHERE o.short_name = 'grp10' AND p.username = 'user0190' AND m.role = 'owner'").await,
        1
    );
    assert_eq!(
        site.count("audit_events WHERE action = 'adoption.applied'")
            .await,
        1
    );

    // LDAP: the adopted entries are as they were; only the 50 personal organisations'
    // new groups were added.
    let after = site.snapshot().await;
    let added: Vec<&String> = after
        .keys()
        .filter(|dn| !before.contains_key(*dn))
        .collect();
    assert_eq!(added.len(), 50, "{added:?}");
    for (dn, attrs) in &before {
        assert_eq!(after.get(dn), Some(attrs), "{dn} was rewritten");
    }
    let personal = &after["cn=user1960,ou=groups,dc=example,dc=org"];
    assert_eq!(personal["memberUid"], ["user1960"]);

    // The PI's page shows the adopted organisation like any other.
    let admin = site
        .app
        .staff_browser("admin@example.org", roster::domain::Role::SiteAdmin)
        .await;
    let organisation = site
        .app
        .context
        .store
        .organisation_by_short_name(&roster::domain::ShortName::parse("grp10").unwrap())
        .await
        .unwrap()
        .unwrap();
    let members = admin
        .page(&format!("/orgs/{}/members", organisation.id))
        .await;
    assert_eq!(members.status, 200);
    assert!(members.html.html().contains("user0190"));

    // Again: nothing changes.
    let again = site.run(&["adopt", "apply", path.to_str().unwrap()]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("nothing to do"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        site.count("people WHERE adopted_by_run IS NOT NULL").await,
        1_980
    );
    assert_eq!(
        site.count("audit_events WHERE action = 'adoption.applied'")
            .await,
        1
    );
    assert_eq!(site.snapshot().await, after);
    // A new plan has nothing left but the conflicts.
    let (_, summary) = site.plan(&["--personal-groups"]);
    assert!(
        summary.contains("2110 entries read: 0 people and 0 organisations to adopt, 0 personal organisations, 23 conflicts; 2087 adopted before"),
        "{summary}"
    );
}

#[tokio::test]
async fn adopted_numbers_are_never_handed_out_again_even_when_their_entries_are_gone() {
    let site = site().await;
    let (path, _) = site.plan(&[]);
    let output = site.run(&["adopt", "apply", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Someone removes two adopted entries by hand; their numbers stay reserved.
    let mut ldap = site.app.slapd.admin_conn().await;
    ldap.delete(&person_dn(1_990))
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap.delete(&group_dn(0)).await.unwrap().success().unwrap();

    let organisation = site.app.create_org("New Lab", "newlab").await;
    assert!(
        organisation.gid_number >= i64::try_from(FIRST_GID + GROUPS).unwrap(),
        "gidNumber {} was adopted",
        organisation.gid_number
    );
    site.app.activated_member(&organisation, "newcomer").await;
    let entry = site
        .app
        .slapd
        .search_entry("uid=newcomer,ou=people,dc=example,dc=org")
        .await
        .unwrap();
    let number: usize = entry.attrs["uidNumber"][0].parse().unwrap();
    assert!(
        number >= FIRST_UID + PEOPLE,
        "uidNumber {number} was adopted"
    );
    // Roster's own entries (the new account, its private group, the new organisation's
    // group) are never offered for adoption, nor called conflicts.
    site.app.run_jobs().await;
    let (_, summary) = site.plan(&[]);
    assert!(
        summary.contains(
            "0 people and 0 organisations to adopt, 0 personal organisations, 23 conflicts"
        ),
        "{summary}"
    );
}

#[tokio::test]
async fn the_threshold_and_broken_or_edited_plans_are_refused_clearly_and_nothing_is_half_written()
{
    let site = site().await;
    let (path, _) = site.plan(&["--personal-groups"]);
    let plan = path.to_str().unwrap();

    let refused = site.run(&["adopt", "apply", plan, "--max-change", "50"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("refused: this run would adopt or create 2037 of 2060 entries (98.9 %), more than --max-change 50 %; nothing was written"),
        "{}",
        stderr(&refused)
    );
    let out_of_range = site.run(&["adopt", "apply", plan, "--max-change", "150"]);
    assert_eq!(out_of_range.status.code(), Some(2));
    assert_eq!(
        site.count("people WHERE adopted_by_run IS NOT NULL").await,
        0
    );
    assert_eq!(site.count("adoption_runs").await, 0);

    let broken = site.dir.path().join("broken.toml");
    std::fs::write(&broken, "version = 1\npeople = [ { uid = \"x\" ").unwrap();
    let output = site.run(&["adopt", "apply", broken.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("the plan is not valid TOML"),
        "{}",
        stderr(&output)
    );

    // A reviewer leaves one person out, gives grp03 another owner, and changes a number by
    // mistake: the number's line is left out with a reason, the rest is applied.
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text
        .replace("  { uid = \"user0043\"", "  # { uid = \"user0043\"")
        .replace(
            "uid = \"user0044\", uid_number = 50044",
            "uid = \"user0044\", uid_number = 1",
        )
        .replace("owner = \"user0183\"", "owner = \"user0063\"");
    let edited_path = site.dir.path().join("edited.toml");
    std::fs::write(&edited_path, edited).unwrap();
    let output = site.run(&["adopt", "apply", edited_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "left out: {}: the line differs from the directory's entry: plan again\n",
            person_dn(44)
        )
    );
    assert_eq!(
        site.count("people WHERE username IN ('user0043', 'user0044')")
            .await,
        0
    );
    assert_eq!(
        site.count("memberships m JOIN organisations o ON o.id = m.organisation_id JOIN people p ON p.id = m.person_id WHERE o.short_name = 'grp03' AND p.username = 'user0063' AND m.role = 'owner'").await,
        1
    );
    assert_eq!(
        site.count("memberships m JOIN organisations o ON o.id = m.organisation_id JOIN people p ON p.id = m.person_id WHERE o.short_name = 'grp03' AND p.username = 'user0183' AND m.role = 'member'").await,
        1
    );
}

#[tokio::test]
async fn a_claim_mail_leads_to_a_working_ldap_bind_with_the_new_password() {
    const NEW_PASSWORD: &str = "claimed-at-last-Jw8#qLm2";
    let site = site().await;
    let (path, _) = site.plan(&[]);
    let output = site.run(&["adopt", "apply", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The adopted person has no portal password yet: the old one still works in LDAP.
    assert!(
        site.app
            .slapd
            .can_bind(&person_dn(190), "old-secret-190")
            .await
    );

    let claimed = site.run(&["adopt", "claim", "--org", "grp10"]);
    assert!(claimed.status.success(), "{}", stderr(&claimed));
    // grp10's 33 members less user0010, whose entry is a conflict.
    assert!(
        stderr(&claimed).contains("claim mails queued: 32"),
        "{}",
        stderr(&claimed)
    );
    let unknown = site.run(&["adopt", "claim", "--org", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(2));
    site.app.deliver_mail().await;
    let mail = site
        .app
        .smtp
        .messages()
        .into_iter()
        .find(|mail| mail.is_to("user0190@example.org"))
        .expect("the claim mail");
    assert_eq!(mail.subject, "Claim your account user0190 on Roster");
    let link = mail
        .links()
        .into_iter()
        .find(|link| link.contains("/password-reset/"))
        .expect("the claim link");

    let browser = site.app.new_browser();
    let response = browser
        .submit(
            &link,
            &link,
            &[
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    site.app.run_jobs().await;
    let dn = person_dn(190);
    assert!(
        site.app.slapd.can_bind(&dn, NEW_PASSWORD).await,
        "LDAP has the new password"
    );
    assert!(!site.app.slapd.can_bind(&dn, "old-secret-190").await);
    // Only the password changed: home directory, shell and keys are as adopted.
    let entry = site.app.slapd.search_entry(&dn).await.unwrap();
    assert_eq!(entry.attrs["homeDirectory"], ["/data/home/user0190"]);
    assert_eq!(entry.attrs["loginShell"], ["/bin/tcsh"]);
    // The link is used up, and the portal takes the new password too.
    assert_eq!(site.app.new_browser().page(&link).await.status, 410);
    let signed_in = site
        .app
        .new_browser()
        .sign_in("user0190", NEW_PASSWORD)
        .await;
    assert_eq!(signed_in.status(), 303);
    // Claimed people are not mailed again.
    let again = site.run(&["adopt", "claim", "--org", "grp10"]);
    assert!(
        stderr(&again).contains("claim mails queued: 31"),
        "{}",
        stderr(&again)
    );

    // The PI, now signed in, sees who has not claimed yet and resends one claim email.
    let pi = site.app.new_browser();
    assert_eq!(pi.sign_in("user0190", NEW_PASSWORD).await.status(), 303);
    let pool = site.app.database.pool().await;
    let org_id: String =
        sqlx::query_scalar("SELECT id FROM organisations WHERE short_name = 'grp10'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let membership_sql = "SELECT m.id FROM memberships m JOIN people p ON p.id = m.person_id \
                          WHERE m.organisation_id = $1 AND p.username = $2";
    let mut ids = Vec::new();
    for username in ["user0250", "user0190"] {
        let id: String = sqlx::query_scalar(membership_sql)
            .bind(&org_id)
            .bind(username)
            .fetch_one(&pool)
            .await
            .unwrap();
        ids.push(id);
    }
    let (waiting, claimed_member) = (&ids[0], &ids[1]);
    let members = pi.page(&format!("/orgs/{org_id}/members?q=user0250")).await;
    assert_eq!(members.status, 200);
    assert_eq!(
        members.text(&format!("tr#member-{waiting} td.status")),
        "not yet claimed"
    );
    let members = pi.page(&format!("/orgs/{org_id}/members?q=user0190")).await;
    assert_eq!(
        members.text(&format!("tr#member-{claimed_member} td.status")),
        "active"
    );
    let member_page = format!("/orgs/{org_id}/members/{waiting}");
    let page = pi.page(&member_page).await;
    let action = page.attr("form[action$='/claim']", "action").unwrap();
    let version = page
        .attr("form[action$='/claim'] input[name=version]", "value")
        .unwrap();
    let resent = pi
        .submit(&member_page, &action, &[("version", &version)])
        .await;
    assert_eq!(resent.status(), 303);
    site.app.deliver_mail().await;
    let to_waiting = site
        .app
        .smtp
        .messages()
        .into_iter()
        .filter(|mail| mail.is_to("user0250@example.org"))
        .count();
    assert_eq!(
        to_waiting, 3,
        "two claim mails to the organisation, and the PI's resend"
    );
    // A claimed account gets no claim email: a clear 409, nothing sent.
    let claimed_page = format!("/orgs/{org_id}/members/{claimed_member}");
    let page = pi.page(&claimed_page).await;
    assert!(page.select_all("form[action$='/claim']").is_empty());
    let refused = pi
        .submit(
            &claimed_page,
            &format!("{claimed_page}/claim"),
            &[("version", &version)],
        )
        .await;
    assert_eq!(refused.status(), 409);
}

#[tokio::test]
async fn a_run_that_stops_half_way_is_resumed_by_the_next_and_audited_once() {
    let site = site().await;
    let (path, _) = site.plan(&["--personal-groups"]);
    let plan = path.to_str().unwrap();
    // Room for one new group only: the run stops at the second personal organisation,
    // after the people, the groups and one personal organisation were recorded.
    let full = std::fs::read_to_string(&site.config).unwrap();
    std::fs::write(
        &site.config,
        full.replace("gid_number_max = 199999", "gid_number_max = 100000"),
    )
    .unwrap();
    let stopped = site.run(&["adopt", "apply", plan]);
    assert!(!stopped.status.success());
    assert!(
        stderr(&stopped).contains("no gidNumber is left"),
        "{}",
        stderr(&stopped)
    );
    assert_eq!(
        site.count("people WHERE adopted_by_run IS NOT NULL").await,
        1_980
    );
    assert_eq!(
        site.count("organisations WHERE adopted_by_run IS NOT NULL")
            .await,
        58
    );
    assert_eq!(
        site.count("adoption_runs WHERE finished_at IS NULL").await,
        1
    );
    assert_eq!(
        site.count("audit_events WHERE action = 'adoption.applied'")
            .await,
        0
    );

    std::fs::write(&site.config, full).unwrap();
    let resumed = site.run(&["adopt", "apply", plan]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains(
            "adopted 0 people and 0 organisations, made 49 personal organisations (49 memberships)"
        ) && stderr(&resumed).contains("(resumed)"),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(
        site.count("organisations WHERE adopted_by_run IS NOT NULL")
            .await,
        107
    );
    assert_eq!(site.count("adoption_runs").await, 1);
    assert_eq!(
        site.count(
            "adoption_runs WHERE finished_at IS NOT NULL AND people = 1980 AND organisations = 107"
        )
        .await,
        1
    );
    assert_eq!(
        site.count("audit_events WHERE action = 'adoption.applied'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_adopted_person_may_claim_the_account_by_single_sign_on_with_the_same_email() {
    let app = TestApp::spawn_with_sso().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&app, dir.path(), "127.0.0.1:0", "");
    let plan = dir.path().join("plan.toml");
    let run = |args: &[&str]| {
        roster()
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let planned = run(&["adopt", "plan", "--out", plan.to_str().unwrap()]);
    assert!(planned.status.success(), "{}", stderr(&planned));
    let applied = run(&["adopt", "apply", plan.to_str().unwrap(), "--send-claims"]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    // Every adopted person is mailed a claim link at apply time.
    assert!(
        stderr(&applied).contains("claim mails queued: 50"),
        "{}",
        stderr(&applied)
    );
    app.deliver_mail().await;
    let claim = app
        .smtp
        .messages()
        .into_iter()
        .find(|mail| mail.is_to("anna.mueller@example.org"))
        .expect("Anna's claim mail");
    assert_eq!(claim.subject, "Claim your account amueller on Roster");

    app.provider()
        .next_sign_in("sub-anna", "anna.mueller@example.org", true)
        .await;
    let browser = app.new_browser();
    let page = browser.page("/sign-in").await;
    let start = browser
        .post_form(
            "/auth/oidc/start",
            &[("csrf_token", &page.csrf_token()), ("next", "/account")],
        )
        .await;
    let callback = browser.through_provider(start).await;
    let response = browser.get_url(&callback).await;
    assert_eq!(crate::support::app::location(&response), "/account");
    let account = browser.page("/account").await;
    assert_eq!(account.text("dd.username"), "amueller");
    // Claimed now: no claim email is offered any more, and LDAP's password is untouched.
    let person = app.person_id("anna.mueller@example.org").await;
    let unclaimed = app
        .context
        .store
        .unclaimed_adopted(None, None, Some(&person))
        .await
        .unwrap();
    assert!(unclaimed.is_empty());
    assert!(
        app.slapd
            .can_bind(
                "uid=amueller,ou=people,dc=example,dc=org",
                crate::support::slapd::SAMPLE_PASSWORD
            )
            .await
    );
}
