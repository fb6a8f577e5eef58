//! Races between portal instances on one database: two wanting one POSIX name, members
//! confirmed at once in one organisation, and jobs held by an instance that died.
//! Meaningful on PostgreSQL (SQLite serialises every write); they run on both.

use roster::domain::{Description, OrganisationName, Role, ShortName};
use roster::store::jobs::JobKind;
use roster::usecases::organisations::{NewOrganisationRequest, create_organisation};

use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, into_page, start_instance};

/// A newcomer of `organisation` who accepted the invitation on the instance at `base` and
/// reviewed username `username`; returns their browser and the confirm form.
async fn ready_to_confirm(
    app: &TestApp,
    base: &str,
    organisation: &roster::store::organisations::Organisation,
    username: &str,
) -> (Browser, Vec<(String, String)>) {
    let email = format!("{username}@example.org");
    let link = app
        .invite_to(organisation, &email, "Racer", Role::Member)
        .await;
    let path = link.trim_start_matches(&app.address).to_string();
    let browser = Browser::new(base);
    let accepted = browser.accept_invitation(&path, GOOD_PASSWORD).await;
    assert_eq!(accepted.status(), 303, "accepting {path}");
    let fields = [("username", username), ("login_shell", "/bin/bash")];
    let review = into_page(
        browser
            .submit("/account/setup", "/account/setup", &fields)
            .await,
    )
    .await;
    assert_eq!(review.status, 200, "reviewing {username}");
    let mut form = vec![("csrf_token".to_string(), review.csrf_token())];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    (browser, form)
}

async fn confirm(browser: &Browser, form: &[(String, String)]) -> u16 {
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser
        .post_form("/account/setup/confirm", &fields)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_organisation_and_a_person_racing_for_one_name_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let (second, second_ctx) = start_instance(app.settings.clone()).await;
    let home = app.create_org("Home", "home").await;
    for round in 0..8 {
        let name = format!("race{round}");
        let (browser, form) = ready_to_confirm(&app, &second, &home, &name).await;
        // The organisation on this instance (as `roster org create` would), the username
        // confirmed on the other, at the same moment.
        let (organisation, confirmed) = tokio::join!(
            create_organisation(
                &app.context,
                NewOrganisationRequest {
                    name: OrganisationName::parse("Racing Lab").unwrap(),
                    short_name: ShortName::parse(&name).unwrap(),
                    description: Description::parse("").unwrap(),
                    actor_id: None,
                    client_ip: None,
                },
            ),
            confirm(&browser, &form),
        );
        let person_won = confirmed == 303;
        assert!(
            person_won || confirmed == 409,
            "round {round}: confirm answered {confirmed}"
        );
        assert_ne!(
            person_won,
            organisation.is_ok(),
            "round {round}: person won {person_won}, organisation {organisation:?}"
        );
        app.run_jobs().await;
        // LDAP holds one group of that name, owned by the winner, and a person entry only
        // if the person won.
        let group = app
            .slapd
            .search_entry(&format!("cn={name},{}", app.slapd.groups_dn()))
            .await
            .expect("the winner's group exists");
        let person_entry = app.slapd.search_entry(&app.slapd.person_dn(&name)).await;
        let person = app.person_id(&format!("{name}@example.org")).await;
        let person = second_ctx
            .store
            .person_by_id(&person)
            .await
            .unwrap()
            .unwrap();
        if person_won {
            assert_eq!(
                group.attrs["gidNumber"],
                [person.gid_number.unwrap().to_string()]
            );
            assert!(person_entry.is_some());
        } else {
            let organisation = organisation.unwrap();
            assert_eq!(
                group.attrs["gidNumber"],
                [organisation.gid_number.to_string()]
            );
            assert!(person_entry.is_none());
            assert_eq!(person.username, None, "the loser keeps no username");
        }
    }
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn members_confirmed_at_once_on_two_instances_are_all_in_the_group() {
    let app = TestApp::spawn().await;
    let (second, _) = start_instance(app.settings.clone()).await;
    let org = app.create_org("Crowd", "crowd").await;
    let rounds = if app.database.is_postgres() { 12 } else { 3 };
    let mut expected = Vec::new();
    for round in 0..rounds {
        let mut ready = Vec::new();
        for n in 0..4 {
            let username = format!("m{round}x{n}");
            let base = if n % 2 == 0 { &app.address } else { &second };
            ready.push(ready_to_confirm(&app, base, &org, &username).await);
            expected.push(username);
        }
        let statuses = futures_util::future::join_all(
            ready.iter().map(|(browser, form)| confirm(browser, form)),
        )
        .await;
        assert!(statuses.iter().all(|status| *status == 303), "{statuses:?}");
        // Whatever the interleaving, the outbox ends with every member in memberUid.
        app.run_jobs().await;
        let mut want = expected.clone();
        want.sort();
        assert_eq!(
            app.ldap_member_uids("crowd").await.unwrap(),
            want,
            "round {round}"
        );
    }
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_job_held_by_an_instance_that_died_is_taken_over_within_the_lease() {
    let mut app = TestApp::spawn().await;
    let org = app.create_org("Orphan", "orphan").await;
    let address = app.address.clone();
    let (browser, form) = ready_to_confirm(&app, &address, &org, "ada").await;
    // Confirmed while LDAP is down: the entry and the group wait in the outbox.
    app.slapd.stop();
    assert_eq!(confirm(&browser, &form).await, 303);
    app.slapd.start_again();

    // Another instance claimed the group's job and was killed before finishing it.
    let now = app.context.clock.now();
    let held = app
        .context
        .store
        .claim_job_for(
            JobKind::SyncGroup,
            &org.id,
            now,
            roster::jobs::LEASE_SECONDS,
        )
        .await
        .unwrap()
        .expect("a waiting group job");
    assert_eq!(held.subject_id, org.id);
    assert!(
        app.context
            .store
            .job_in_progress(JobKind::SyncGroup, &org.id, now)
            .await
            .unwrap()
    );

    // Soon after, the claim has ended and this instance applies the job.
    app.context.clock.advance(roster::jobs::LEASE_SECONDS + 1);
    app.run_jobs().await;
    assert_eq!(app.ldap_member_uids("orphan").await.unwrap(), ["ada"]);
    assert!(
        !app.context
            .store
            .has_pending_job(JobKind::SyncGroup, &org.id)
            .await
            .unwrap()
    );
    app.assert_directory_settled().await;
}

/// Counts lock requests of `kind` waiting in PostgreSQL.
async fn waiting_locks(pool: &sqlx::AnyPool, kind: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = $1 AND NOT granted",
    )
    .bind(kind)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits (bounded) until `done` says so; the test positions a race by what PostgreSQL
/// reports, never by guessing durations.
async fn until(mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "the race did not line up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The lost memberUid update, made deterministic: a member's confirmation is held at its
/// commit (a deferred test trigger waits on an advisory lock), while a worker runs the
/// organisation's waiting group job. The worker must not write a group that misses the
/// member for good. PostgreSQL only: SQLite runs one writer at a time, so the interleaving
/// cannot happen there.
#[tokio::test]
async fn a_member_confirmed_while_a_worker_reads_the_group_is_never_lost() {
    let app = TestApp::spawn().await;
    if !app.database.is_postgres() {
        return;
    }
    let org = app.create_org("Crowd", "crowd").await;
    app.activated_member(&org, "ada").await;
    let address = app.address.clone();
    let (bob, form) = ready_to_confirm(&app, &address, &org, "bob").await;
    // A group job waits, unclaimed (a change whose immediate attempt did not happen).
    let ada = app.person_id("ada@example.org").await;
    let _not_applied = app
        .context
        .store
        .queue_resync(&ada, Default::default(), app.context.clock.now())
        .await
        .unwrap();
    let pool = app.database.pool().await;
    for statement in [
        "CREATE FUNCTION roster_test_hold() RETURNS trigger AS $$ BEGIN \
         IF NEW.action = 'account.created' THEN PERFORM pg_advisory_xact_lock(4242); END IF; \
         RETURN NEW; END $$ LANGUAGE plpgsql",
        // Deferred: it fires at COMMIT, after everything the change wrote.
        "CREATE CONSTRAINT TRIGGER roster_test_hold AFTER INSERT ON audit_events \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION roster_test_hold()",
    ] {
        sqlx::raw_sql(statement).execute(&pool).await.unwrap();
    }
    let mut holder = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(4242)")
        .execute(&mut *holder)
        .await
        .unwrap();

    // Bob's confirmation queues the group's sync and stops just before committing.
    let confirming = tokio::spawn(async move { confirm(&bob, &form).await });
    until(async || waiting_locks(&pool, "advisory").await == 1).await;
    // Meanwhile a worker runs the waiting group job.
    let ctx = app.context.clone();
    let org_id = org.id.clone();
    let worker = tokio::spawn(async move {
        roster::jobs::apply_now(&ctx, JobKind::SyncGroup, &org_id).await;
    });
    until(async || worker.is_finished() || waiting_locks(&pool, "transactionid").await > 0).await;
    sqlx::query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut *holder)
        .await
        .unwrap();
    assert_eq!(confirming.await.unwrap(), 303);
    worker.await.unwrap();
    sqlx::raw_sql("DROP TRIGGER roster_test_hold ON audit_events")
        .execute(&pool)
        .await
        .unwrap();

    app.run_jobs().await;
    assert_eq!(
        app.ldap_member_uids("crowd").await.unwrap(),
        ["ada", "bob"],
        "bob's confirmation was lost from the group"
    );
    app.assert_directory_settled().await;
}
