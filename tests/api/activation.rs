//! The invited person's side: password, username, shell, review, and the POSIX account in
//! LDAP that a simple bind can use.

use roster::domain::Role;

use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, into_page, location};

/// Accepts `link` in a new browser and returns it on the set-up page.
async fn accept(app: &TestApp, link: &str) -> Browser {
    let browser = app.new_browser();
    let response = browser.accept_invitation(link, GOOD_PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account/setup");
    browser
}

async fn choose(browser: &Browser, username: &str, shell: &str) -> reqwest::Response {
    browser
        .submit(
            "/account/setup",
            "/account/setup",
            &[("username", username), ("login_shell", shell)],
        )
        .await
}

async fn confirm(browser: &Browser, username: &str, shell: &str) -> reqwest::Response {
    let review = into_page(choose(browser, username, shell).await).await;
    assert_eq!(review.status, 200, "review of {username}");
    browser
        .post_form(
            "/account/setup/confirm",
            &[
                ("csrf_token", &review.csrf_token()),
                ("username", username),
                ("login_shell", shell),
            ],
        )
        .await
}

#[tokio::test]
async fn an_invited_person_activates_and_can_bind_to_ldap_with_their_password() {
    // Separate ranges, so the private group can have the uidNumber as its gidNumber.
    let app = TestApp::spawn_with(|settings| {
        settings.ldap.gid_number_min = 300_000;
        settings.ldap.gid_number_max = 399_999;
    })
    .await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let link = app
        .invite_to(&org, "marie@example.org", "Curie", Role::Member)
        .await;
    let browser = accept(&app, &link).await;

    // Until the account is set up, the start page brings them back to the form.
    assert_eq!(location(&browser.get("/").await), "/account/setup");
    let setup = browser.page("/account/setup").await;
    assert_eq!(
        setup.attr("input[name=username]", "value").as_deref(),
        Some("curie"),
        "suggested from the names"
    );
    assert_eq!(
        setup.select_all("select#login_shell option"),
        vec!["/bin/bash", "/bin/zsh"]
    );

    let review = into_page(choose(&browser, "mcurie", "/bin/zsh").await).await;
    assert_eq!(review.text("dd.username"), "mcurie");
    assert_eq!(review.text("dd.home"), "/home/mcurie");
    let done = browser
        .post_form(
            "/account/setup/confirm",
            &[
                ("csrf_token", &review.csrf_token()),
                ("username", "mcurie"),
                ("login_shell", "/bin/zsh"),
            ],
        )
        .await;
    assert_eq!(location(&done), "/?welcome=account");
    let home = browser.page("/?welcome=account").await;
    assert_eq!(home.text(".facts dd.ldap-state"), "up to date");
    let uid_number = home.text(".facts dd.uid-number");

    let dn = app.slapd.person_dn("mcurie");
    let entry = app.slapd.search_entry(&dn).await.expect("the entry exists");
    let attr = |name: &str| entry.attrs.get(name).cloned().unwrap_or_default();
    let mut classes = attr("objectClass");
    classes.sort();
    assert_eq!(
        classes,
        vec!["inetOrgPerson", "ldapPublicKey", "posixAccount", "top"]
    );
    assert_eq!(attr("uid"), vec!["mcurie"]);
    assert_eq!(attr("cn"), vec!["Curie"]);
    assert_eq!(attr("sn"), vec!["Curie"]);
    assert_eq!(attr("mail"), vec!["marie@example.org"]);
    assert_eq!(attr("uidNumber"), vec![uid_number.clone()]);
    assert_eq!(
        attr("gidNumber"),
        vec![uid_number.clone()],
        "private group, same number"
    );
    assert_eq!(attr("homeDirectory"), vec!["/home/mcurie"]);
    assert_eq!(attr("loginShell"), vec!["/bin/zsh"]);
    assert!(attr("userPassword")[0].starts_with("{CRYPT}$2b$"));

    assert!(
        app.slapd.can_bind(&dn, GOOD_PASSWORD).await,
        "bind with the new password"
    );
    assert!(!app.slapd.can_bind(&dn, "not the password").await);

    let group = app
        .slapd
        .search_entry(&format!("cn=mcurie,{}", app.slapd.groups_dn()))
        .await
        .unwrap();
    assert_eq!(group.attrs["gidNumber"], vec![uid_number]);
    assert_eq!(
        app.ldap_member_uids("astro").await,
        Some(vec!["mcurie".to_string()])
    );

    // They sign in with the username from now on, and set-up is over.
    let again = app.new_browser();
    assert_eq!(again.sign_in("mcurie", GOOD_PASSWORD).await.status(), 303);
    assert_eq!(location(&again.get("/account/setup").await), "/");
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn change_these_on_the_review_step_returns_to_the_form_with_the_chosen_username_and_shell() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let link = app
        .invite_to(&org, "marie@example.org", "Curie", Role::Member)
        .await;
    let browser = accept(&app, &link).await;
    let review = into_page(choose(&browser, "mcurie", "/bin/zsh").await).await;

    // The "Change these" form submits its hidden fields by GET, as a browser would.
    let hidden = |name: &str| {
        review
            .attr(
                &format!("form[method=get][action='/account/setup'] input[name={name}]"),
                "value",
            )
            .unwrap_or_else(|| panic!("the Change these form carries {name}"))
    };
    let query = serde_urlencoded::to_string([
        ("username", hidden("username")),
        ("login_shell", hidden("login_shell")),
    ])
    .unwrap();
    let again = browser.page(&format!("/account/setup?{query}")).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.attr("input[name=username]", "value").as_deref(),
        Some("mcurie")
    );
    assert_eq!(
        again.select_all("select#login_shell option[selected]"),
        vec!["/bin/zsh"],
        "the chosen shell stays chosen"
    );
}

#[tokio::test]
async fn bad_and_taken_usernames_get_a_clear_message_next_to_the_field() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let link = app
        .invite_to(&org, "marie@example.org", "Curie", Role::Member)
        .await;
    let browser = accept(&app, &link).await;
    let cases: [(&str, u16, &str); 11] = [
        (
            "root",
            422,
            "This name is reserved for the system. Choose another.",
        ),
        ("Alice", 422, "Use lowercase letters only."),
        (
            "a b",
            422,
            "Use only letters a to z, digits, - and _ (no spaces or other characters).",
        ),
        (
            "x;rm",
            422,
            "Use only letters a to z, digits, - and _ (no spaces or other characters).",
        ),
        ("../", 422, "Start with a letter (a to z)."),
        (
            "abcdefghijabcdefghijabcdefghijabcdefghij",
            422,
            "Use at most 32 characters.",
        ),
        (
            "jsmith",
            409,
            "This username is already taken. Choose another.",
        ),
        (
            "chemistry",
            409,
            "This username is already taken. Choose another.",
        ),
        (
            "users",
            422,
            "This name is reserved for the system. Choose another.",
        ),
        (
            "wheel",
            422,
            "This name is reserved for the system. Choose another.",
        ),
        (
            "astro",
            409,
            "This username is already taken. Choose another.",
        ),
    ];
    for (username, status, message) in cases {
        let page = into_page(choose(&browser, username, "/bin/bash").await).await;
        assert_eq!(page.status.as_u16(), status, "{username}");
        assert_eq!(
            page.text("#username-error"),
            format!("Error: {message}"),
            "{username}"
        );
        assert_eq!(
            page.attr("input[name=username]", "value").as_deref(),
            Some(username),
            "kept"
        );
    }
    let page = into_page(choose(&browser, "mcurie", "/bin/evil").await).await;
    assert_eq!(page.status, 422);
    assert_eq!(
        page.text("#login_shell-error"),
        "Error: Choose one of the shells offered."
    );
    // Confirming a bad choice directly is refused the same way, and nothing is created.
    let token = browser.page("/account/setup").await.csrf_token();
    let forced = browser
        .post_form(
            "/account/setup/confirm",
            &[
                ("csrf_token", &token),
                ("username", "root"),
                ("login_shell", "/bin/bash"),
            ],
        )
        .await;
    assert_eq!(forced.status(), 422);
    assert!(
        app.slapd
            .search_entry(&app.slapd.person_dn("root"))
            .await
            .is_none()
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn uid_numbers_skip_what_ldap_holds() {
    // The sample people use uidNumbers 20000-20049.
    let app = TestApp::spawn_with(|settings| {
        settings.ldap.uid_number_min = 20_047;
        settings.ldap.uid_number_max = 20_060;
    })
    .await;
    let org = app.create_org("Astro", "astro").await;
    let link = app
        .invite_to(&org, "marie@example.org", "Curie", Role::Member)
        .await;
    let browser = accept(&app, &link).await;
    assert_eq!(
        location(&confirm(&browser, "mcurie", "/bin/bash").await),
        "/?welcome=account"
    );
    let entry = app
        .slapd
        .search_entry(&app.slapd.person_dn("mcurie"))
        .await
        .unwrap();
    assert_eq!(entry.attrs["uidNumber"], vec!["20050"]);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn fifty_concurrent_activations_get_fifty_distinct_numbers() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let mut browsers = Vec::new();
    for n in 0..50 {
        let link = app
            .invite_to(&org, &format!("p{n}@example.org"), "Person", Role::Member)
            .await;
        browsers.push(accept(&app, &link).await);
    }
    let outcomes = futures_util::future::join_all(browsers.iter().enumerate().map(
        |(n, browser)| async move {
            confirm(browser, &format!("person{n:02}"), "/bin/bash")
                .await
                .status()
                .as_u16()
        },
    ))
    .await;
    assert!(outcomes.iter().all(|status| *status == 303), "{outcomes:?}");
    let pool = app.database.pool().await;
    let (accounts, distinct_uids, distinct_gids): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT uid_number), COUNT(DISTINCT gid_number) FROM people WHERE uid_number IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((accounts, distinct_uids, distinct_gids), (50, 50, 50));
    let mut uids = app.ldap_member_uids("astro").await.unwrap();
    uids.dedup();
    assert_eq!(
        uids.len(),
        50,
        "every account is in the organisation's group"
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_private_group_takes_the_next_free_gid_when_its_uid_number_is_taken() {
    // Overlapping ranges: the organisation took 100000 as a gidNumber first.
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    assert_eq!(org.gid_number, 100_000);
    let link = app
        .invite_to(&org, "marie@example.org", "Curie", Role::Member)
        .await;
    let browser = accept(&app, &link).await;
    assert_eq!(
        location(&confirm(&browser, "mcurie", "/bin/bash").await),
        "/?welcome=account"
    );
    let entry = app
        .slapd
        .search_entry(&app.slapd.person_dn("mcurie"))
        .await
        .unwrap();
    assert_eq!(entry.attrs["uidNumber"], vec!["100000"]);
    assert_eq!(entry.attrs["gidNumber"], vec!["100001"]);
    // And the next organisation does not get 100001 either.
    let next = app.create_org("Bio", "bio").await;
    assert_eq!(next.gid_number, 100_002);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn accounts_made_while_ldap_is_down_appear_exactly_once_after_a_portal_restart() {
    let mut app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    // A second instance serves the newcomers; it is stopped half-way, like a restart.
    let (address, _, first) =
        crate::support::app::start_stoppable_instance(app.settings.clone()).await;
    let mut links = Vec::new();
    for n in 0..20 {
        links.push(
            app.invite_to(&org, &format!("p{n}@example.org"), "Person", Role::Member)
                .await,
        );
    }
    app.slapd.stop();
    for (n, link) in links.iter().enumerate() {
        let browser = Browser::new(&address);
        assert_eq!(
            browser
                .accept_invitation(link, GOOD_PASSWORD)
                .await
                .status(),
            303
        );
        let response = confirm(&browser, &format!("person{n:02}"), "/bin/bash").await;
        assert_eq!(location(&response), "/?welcome=pending", "person{n:02}");
        if n < 3 {
            // Keys added while LDAP is down wait with the account.
            let key = crate::keys::ed25519_key(u8::try_from(n + 1).unwrap());
            let added = browser
                .submit("/account/keys", "/account/keys", &[("key", &key)])
                .await;
            assert_eq!(location(&added), "/account/keys?done=added");
            let page = browser.page("/account/keys").await;
            assert_eq!(
                page.text(".pending"),
                "Key changes are pending — they will be applied to the directory automatically."
            );
        }
        if n == 0 {
            let home = browser.page("/?welcome=pending").await;
            assert_eq!(
                home.text(".facts dd.ldap-state"),
                "pending — will be applied automatically"
            );
        }
    }
    first.stop(true).await;
    // Back up: the remaining instance's outbox applies every queued change, including
    // jobs the stopped instance had claimed (their leases run out).
    app.slapd.start_again();
    app.run_jobs_later().await;
    assert_eq!(
        app.ldap_member_uids("astro").await.map(|uids| uids.len()),
        Some(20)
    );
    let mut uids: Vec<String> = app
        .slapd
        .search(app.slapd.people_dn(), "(uid=person*)")
        .await
        .into_iter()
        .map(|entry| entry.attrs["uid"][0].clone())
        .collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 20, "each entry exactly once");
    for n in 0..3u8 {
        let entry = app
            .slapd
            .search_entry(&app.slapd.person_dn(&format!("person{n:02}")))
            .await
            .unwrap();
        assert_eq!(
            entry.attrs["sshPublicKey"],
            vec![crate::keys::ed25519_key(n + 1)],
            "person{n:02}"
        );
    }
    let browser = app.new_browser();
    assert_eq!(
        browser.sign_in("person07", GOOD_PASSWORD).await.status(),
        303
    );
    assert!(
        app.slapd
            .can_bind(&app.slapd.person_dn("person07"), GOOD_PASSWORD)
            .await
    );
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_deleted_accounts_uid_number_is_never_handed_out_again() {
    let app = TestApp::spawn_with(|settings| {
        settings.ldap.gid_number_min = 300_000;
        settings.ldap.gid_number_max = 399_999;
    })
    .await;
    let org = app.create_org("Astro", "astro").await;
    app.activated_member(&org, "first").await;
    let pool = app.database.pool().await;
    let (first_uid,): (i64,) =
        sqlx::query_as("SELECT uid_number FROM people WHERE username = 'first'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // The account is deleted from the portal and from LDAP.
    sqlx::query("UPDATE invitations SET accepted_by = NULL WHERE accepted_by IN (SELECT id FROM people WHERE username = 'first')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM people WHERE username = 'first'")
        .execute(&pool)
        .await
        .unwrap();
    let mut ldap = app.slapd.admin_conn().await;
    ldap.delete(&app.slapd.person_dn("first"))
        .await
        .unwrap()
        .success()
        .unwrap();
    app.activated_member(&org, "second").await;
    let (second_uid,): (i64,) =
        sqlx::query_as("SELECT uid_number FROM people WHERE username = 'second'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(second_uid, first_uid + 1, "the freed number is not reused");
    app.assert_directory_settled().await;
}
