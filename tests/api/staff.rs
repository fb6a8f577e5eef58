//! Helpdesk and site-admin consoles against real slapd: search, the account page with its
//! LDAP diff, lock/unlock (portal and LDAP bind), resync, contact changes, reset links,
//! key removal, staff roles and deletion. Every action leaves an audit event with actor
//! and IP.

use std::collections::HashSet;

use ldap3::Mod;
use roster::domain::Role;

use crate::keys::{add_key, ed25519_key, ldap_keys};
use crate::support::app::{Browser, GOOD_PASSWORD, Page, TestApp, into_page, location};

/// An app with a helpdesk person and one activated member `ada` of "Astro".
struct Desk {
    app: TestApp,
    helpdesk: Browser,
    member: Browser,
    member_id: String,
}

async fn desk() -> Desk {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let member = app.activated_member(&org, "ada").await;
    let helpdesk = app.staff_browser("desk@example.org", Role::Helpdesk).await;
    let member_id = app.person_id("ada@example.org").await;
    Desk {
        app,
        helpdesk,
        member,
        member_id,
    }
}

impl Desk {
    fn account_path(&self) -> String {
        format!("/admin/accounts/{}", self.member_id)
    }

    async fn account_page(&self) -> Page {
        let page = self.helpdesk.page(&self.account_path()).await;
        assert_eq!(page.status, 200);
        page
    }

    /// Submits one of the account page's forms, as the helpdesk person.
    async fn act(&self, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let path = self.account_path();
        self.helpdesk
            .submit(&path, &format!("{path}/{action}"), fields)
            .await
    }

    fn ada_dn(&self) -> String {
        self.app.slapd.person_dn("ada")
    }

    async fn ada_attribute(&self, attribute: &str) -> Vec<String> {
        let entry = self.app.slapd.search_entry(&self.ada_dn()).await.unwrap();
        entry.attrs.get(attribute).cloned().unwrap_or_default()
    }

    /// The newest row of the account page's history is `action`, by the helpdesk person,
    /// from the test's address.
    async fn assert_audited(&self, action: &str) {
        let page = self.account_page().await;
        assert_eq!(page.select_all("table.history td.action")[0], action);
        assert_eq!(
            page.select_all("table.history td.actor")[0],
            "Staff",
            "{action}"
        );
        assert_eq!(
            page.select_all("table.history td.ip")[0],
            "127.0.0.1",
            "{action}"
        );
    }
}

/// Waits for a message to `address` with this subject.
pub async fn mail_with_subject(
    app: &TestApp,
    address: &str,
    subject: &str,
) -> crate::support::smtp::ReceivedMail {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(mail) = app
            .smtp
            .messages()
            .into_iter()
            .find(|mail| mail.is_to(address) && mail.subject == subject)
        {
            return mail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail to {address} about {subject:?}; got {:?}",
            app.smtp.messages()
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_locked_account_can_neither_sign_in_nor_bind_and_unlocking_restores_both() {
    let desk = desk().await;
    assert_eq!(add_key(&desk.member, &ed25519_key(7)).await.status(), 303);
    assert!(desk.app.slapd.can_bind(&desk.ada_dn(), GOOD_PASSWORD).await);
    assert_eq!(desk.member.get("/").await.status(), 200);

    // Bad requests first: each a clear 4xx, nothing changed.
    let too_long = "x".repeat(201);
    let response = desk.act("lock", &[("reason", &too_long)]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(desk.act("unlock", &[]).await.status(), 409, "not locked");
    let nobody = desk.helpdesk.get("/admin/accounts/no-such-person").await;
    assert_eq!(nobody.status(), 404);
    let own_id = desk.app.person_id("desk@example.org").await;
    let own = desk
        .helpdesk
        .submit(
            &format!("/admin/accounts/{own_id}"),
            &format!("/admin/accounts/{own_id}/lock"),
            &[("reason", "")],
        )
        .await;
    assert_eq!(own.status(), 409, "nobody locks themselves out");
    let no_token = desk
        .helpdesk
        .post_form(&format!("{}/lock", desk.account_path()), &[("reason", "")])
        .await;
    assert_eq!(no_token.status(), 403);
    assert_eq!(desk.account_page().await.text("dd.status"), "Active");

    let response = desk.act("lock", &[("reason", "left the lab")]).await;
    assert_eq!(response.status(), 303);
    let page = into_page(desk.helpdesk.get(&location(&response)).await).await;
    assert_eq!(page.text("dd.status"), "Locked");
    assert!(page.text("dd.locked").ends_with("left the lab"));
    desk.assert_audited("account.locked").await;

    // The open session ended at once, and signing in again is refused.
    assert_eq!(location(&desk.member.get("/").await), "/sign-in");
    let again = desk.app.new_browser();
    let refused = into_page(again.sign_in("ada", GOOD_PASSWORD).await).await;
    assert_eq!(refused.status, 403);
    assert!(refused.text(".error-summary p").contains("locked"));
    // LDAP refuses the bind, and neither a key nor a shell lets the person in.
    assert!(!desk.app.slapd.can_bind(&desk.ada_dn(), GOOD_PASSWORD).await);
    assert!(desk.ada_attribute("userPassword").await.is_empty());
    assert!(desk.ada_attribute("sshPublicKey").await.is_empty());
    assert_eq!(
        desk.ada_attribute("loginShell").await,
        ["/usr/sbin/nologin"]
    );
    // The portal expects exactly that, so the diff shows no difference.
    let page = desk.account_page().await;
    assert_eq!(page.text("p.ldap-state"), "LDAP matches the portal.");

    let response = desk.act("unlock", &[]).await;
    assert_eq!(response.status(), 303);
    desk.assert_audited("account.unlocked").await;
    assert!(desk.app.slapd.can_bind(&desk.ada_dn(), GOOD_PASSWORD).await);
    assert_eq!(ldap_keys(&desk.app, "ada").await, [ed25519_key(7)]);
    assert_eq!(desk.ada_attribute("loginShell").await, ["/bin/bash"]);
    assert_eq!(again.sign_in("ada", GOOD_PASSWORD).await.status(), 303);
    assert_eq!(again.get("/").await.status(), 200);
    desk.app.assert_directory_settled().await;
}

#[tokio::test]
async fn resync_repairs_an_entry_changed_behind_the_portals_back() {
    let desk = desk().await;
    assert_eq!(add_key(&desk.member, &ed25519_key(3)).await.status(), 303);
    let mut ldap = desk.app.slapd.admin_conn().await;
    ldap.modify(
        &desk.ada_dn(),
        vec![
            Mod::Replace("loginShell", HashSet::from(["/bin/evil"])),
            Mod::Replace("mail", HashSet::from(["someone@else.example"])),
            Mod::Delete("sshPublicKey", HashSet::new()),
            Mod::Add("description", HashSet::from(["kept by the portal"])),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();

    let page = desk.account_page().await;
    let differing = page.select_all("table.ldap-diff tr.differs th");
    assert_eq!(differing, ["mail", "loginShell", "sshPublicKey"]);
    assert_eq!(
        page.text("tr[data-attribute=loginShell] td.live"),
        "/bin/evil"
    );
    assert_eq!(
        page.text("tr[data-attribute=loginShell] td.expected"),
        "/bin/bash"
    );
    assert_eq!(
        page.text("p.ldap-state"),
        "3 attributes differ from what the portal expects. “Resync to LDAP” rewrites them."
    );

    for _ in 0..2 {
        let response = desk.act("resync", &[]).await;
        assert_eq!(response.status(), 303);
        assert_eq!(desk.ada_attribute("loginShell").await, ["/bin/bash"]);
        assert_eq!(desk.ada_attribute("mail").await, ["ada@example.org"]);
        assert_eq!(ldap_keys(&desk.app, "ada").await, [ed25519_key(3)]);
        assert_eq!(
            desk.ada_attribute("description").await,
            ["kept by the portal"]
        );
        let page = desk.account_page().await;
        assert_eq!(page.text("p.ldap-state"), "LDAP matches the portal.");
        assert!(page.select_all("tr.differs").is_empty());
    }
    assert!(desk.app.slapd.can_bind(&desk.ada_dn(), GOOD_PASSWORD).await);
    desk.assert_audited("account.resynced").await;
    desk.app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_changed_email_is_told_to_both_addresses_and_reaches_ldap() {
    let desk = desk().await;
    let fields = |email: &'static str| {
        [
            ("given_name", "Ada"),
            ("surname", "Lovelace"),
            ("email", email),
        ]
    };
    // Bad input: a clear message next to the field, nothing changed.
    for (email, message) in [
        ("not-an-email", "email"),
        (
            "desk@example.org",
            "Another account already uses this email address.",
        ),
    ] {
        let response = desk.act("contact", &fields(email)).await;
        assert_eq!(response.status(), 422, "{email}");
        let page = into_page(response).await;
        assert!(page.text("#email-error").contains(message), "{email}");
        assert_eq!(page.attr("input#email", "value").unwrap(), email);
    }
    assert_eq!(desk.ada_attribute("mail").await, ["ada@example.org"]);

    let response = desk.act("contact", &fields("ada.l@example.org")).await;
    assert_eq!(
        location(&response),
        format!("{}?done=contact", desk.account_path())
    );
    let subject = "The email address of your Roster account changed";
    let old = mail_with_subject(&desk.app, "ada@example.org", subject).await;
    let new = mail_with_subject(&desk.app, "ada.l@example.org", subject).await;
    for mail in [&old, &new] {
        assert_eq!(
            mail.subject,
            "The email address of your Roster account changed"
        );
        assert!(
            mail.text
                .contains("from ada@example.org to ada.l@example.org")
        );
    }
    assert_eq!(desk.ada_attribute("mail").await, ["ada.l@example.org"]);
    assert_eq!(desk.ada_attribute("cn").await, ["Ada Lovelace"]);
    desk.assert_audited("account.contact_changed").await;
    // The person signs in with the new address.
    let browser = desk.app.new_browser();
    assert_eq!(
        browser
            .sign_in("ada.l@example.org", GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    desk.app.assert_directory_settled().await;
}

#[tokio::test]
async fn staff_send_a_reset_link_they_never_see_and_remove_keys() {
    let desk = desk().await;
    desk.app.smtp.clear();
    let response = desk.act("password-reset", &[]).await;
    assert_eq!(response.status(), 303);
    let page = into_page(desk.helpdesk.get(&location(&response)).await).await;
    assert!(page.text(".notice").contains("emailed"));
    let mail = mail_with_subject(&desk.app, "ada@example.org", "Reset your Roster password").await;
    let link = mail
        .links()
        .into_iter()
        .find(|link| link.contains("/password-reset/"))
        .unwrap();
    let token = link.rsplit('/').next().unwrap().to_string();
    assert!(!page.html.html().contains(&token));
    assert!(mail.text.contains("The helpdesk sent you this link"));
    desk.assert_audited("account.reset_link_sent").await;
    // The link works for the person.
    let path = link.trim_start_matches(&desk.app.address).to_string();
    let chosen = "orbit lantern mosaic 77";
    let response = desk
        .app
        .new_browser()
        .submit(
            &path,
            &path,
            &[("password", chosen), ("password_confirmation", chosen)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert!(desk.app.slapd.can_bind(&desk.ada_dn(), chosen).await);

    // The reset ended the person's sessions; they sign in with the new password.
    assert!(location(&desk.member.get("/").await).starts_with("/sign-in"));
    assert_eq!(desk.member.sign_in("ada", chosen).await.status(), 303);

    // Removing a key: gone from the page and from LDAP.
    assert_eq!(add_key(&desk.member, &ed25519_key(1)).await.status(), 303);
    assert_eq!(add_key(&desk.member, &ed25519_key(2)).await.status(), 303);
    let page = desk.account_page().await;
    let action = page.attr("table.keys a[href$='/remove']", "href").unwrap();
    let confirmation = desk.helpdesk.page(&action).await;
    assert_eq!(confirmation.status, 200);
    assert_eq!(
        ldap_keys(&desk.app, "ada").await.len(),
        2,
        "asking removes nothing"
    );
    let response = desk
        .helpdesk
        .post_form(&action, &[("csrf_token", &confirmation.csrf_token())])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(ldap_keys(&desk.app, "ada").await.len(), 1);
    assert_eq!(
        desk.account_page()
            .await
            .select_all("table.keys tbody tr")
            .len(),
        1
    );
    desk.assert_audited("account.key_removed").await;
    // A key id of another account (or none) is a 404.
    let other = format!("{}/keys/not-a-key/remove", desk.account_path());
    let response = desk
        .helpdesk
        .post_form(&other, &[("csrf_token", &page.csrf_token())])
        .await;
    assert_eq!(response.status(), 404);
    desk.app.assert_directory_settled().await;
}

#[tokio::test]
async fn account_search_finds_by_name_email_username_and_uid_and_filters_by_status() {
    let desk = desk().await;
    let org = desk
        .app
        .context
        .store
        .organisations_of(&desk.member_id)
        .await
        .unwrap()[0]
        .clone();
    desk.app.activated_member(&org, "grace").await;
    // Someone who accepted but has not chosen a username yet.
    desk.app
        .browser_for(&org, "newbie@example.org", Role::Member)
        .await;
    let grace_id = desk.app.person_id("grace@example.org").await;
    let grace_uid = desk
        .app
        .context
        .store
        .person_by_id(&grace_id)
        .await
        .unwrap()
        .unwrap()
        .uid_number
        .unwrap();
    let response = desk
        .helpdesk
        .submit(
            &format!("/admin/accounts/{grace_id}"),
            &format!("/admin/accounts/{grace_id}/lock"),
            &[("reason", "")],
        )
        .await;
    assert_eq!(response.status(), 303);

    let usernames = |page: &Page| page.select_all("table.accounts td.username");
    let search = |query: String| {
        let helpdesk = &desk.helpdesk;
        async move { helpdesk.page(&format!("/admin/accounts?{query}")).await }
    };
    assert_eq!(usernames(&search("q=ada".into()).await), ["ada"]);
    assert_eq!(
        usernames(&search("q=GRACE%40example".into()).await),
        ["grace"]
    );
    assert_eq!(
        usernames(&search(format!("q={grace_uid}")).await),
        ["grace"]
    );
    let locked = search("status=locked".into()).await;
    assert_eq!(usernames(&locked), ["grace"]);
    assert_eq!(locked.text("table.accounts td.status"), "Locked");
    let setting_up = search("status=setting-up".into()).await;
    assert_eq!(
        setting_up.select_all("table.accounts td.email"),
        ["desk@example.org", "newbie@example.org"],
        "staff without a POSIX account, and the invitee still setting up"
    );
    assert_eq!(usernames(&search("status=active".into()).await), ["ada"]);
    // Invitations not accepted yet are found too, with where they invite to.
    desk.app
        .invite_to(&org, "later@example.org", "Later", Role::Member)
        .await;
    let invited = search("status=invited".into()).await;
    assert!(usernames(&invited).is_empty());
    assert_eq!(
        invited.select_all("table.invitations td.email"),
        ["later@example.org"]
    );
    assert_eq!(invited.text("table.invitations td.invited-to"), "Astro");
    assert_eq!(invited.text("table.invitations td.state"), "Waiting");
    let by_name = search("q=later".into()).await;
    assert_eq!(
        by_name.select_all("table.invitations td.email"),
        ["later@example.org"]
    );
    assert!(
        search("q=ada".into())
            .await
            .select_all("table.invitations td")
            .is_empty()
    );

    // Hostile or wrong input: literal matching, or a clear 400.
    for query in ["q=%25", "q=_", "q=*)(uid%3D*", "q=%5C"] {
        let page = search(query.into()).await;
        assert_eq!(page.status, 200, "{query}");
        assert!(usernames(&page).is_empty(), "{query}");
    }
    let bad_status = search("status=everything".into()).await;
    assert_eq!(bad_status.status, 400);
    assert_eq!(
        bad_status.text("#status-error"),
        "Error: Choose a status from the list."
    );
    let too_long = search(format!("q={}", "x".repeat(101))).await;
    assert_eq!(too_long.status, 400);
    assert!(too_long.text("#q-error").contains("at most 100"));
    desk.app.assert_directory_settled().await;
}

#[tokio::test]
async fn admins_grant_and_revoke_staff_roles_but_never_the_last_admin() {
    let desk = desk().await;
    let app = &desk.app;
    app.signed_in_admin("admin@example.org").await;
    let admin = &app.browser;
    assert_eq!(desk.member.get("/admin/accounts").await.status(), 403);

    // Bad input first: clear messages beside the fields.
    let response = admin
        .submit(
            "/admin/staff",
            "/admin/staff",
            &[("email", "nobody@example.org"), ("role", "helpdesk")],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(
        into_page(response)
            .await
            .text("#email-error")
            .contains("No active account")
    );
    let response = admin
        .submit(
            "/admin/staff",
            "/admin/staff",
            &[("email", "ada@example.org"), ("role", "owner")],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(
        into_page(response)
            .await
            .text("#role-error")
            .contains("Helpdesk")
    );

    let response = admin
        .submit(
            "/admin/staff",
            "/admin/staff",
            &[("email", "ada@example.org"), ("role", "helpdesk")],
        )
        .await;
    assert_eq!(location(&response), "/admin/staff?done=granted");
    assert_eq!(desk.member.get("/admin/accounts").await.status(), 200);
    let page = admin.page("/admin/staff").await;
    assert!(
        page.select_all("table.staff td.email")
            .contains(&"ada@example.org".to_string())
    );

    let revoke = format!("/admin/staff/{}/helpdesk/revoke", desk.member_id);
    let response = admin.submit(&revoke, &revoke, &[]).await;
    assert_eq!(location(&response), "/admin/staff?done=revoked");
    assert_eq!(desk.member.get("/admin/accounts").await.status(), 403);

    // The only admin cannot take the role from themselves.
    let admin_id = app.person_id("admin@example.org").await;
    let response = admin
        .submit(
            "/admin/staff",
            &format!("/admin/staff/{admin_id}/admin/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(admin.get("/admin/staff").await.status(), 200);
    let events = app
        .context
        .store
        .audit_of_person(&desk.member_id, 10)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|event| event.action.as_str()).collect();
    assert_eq!(&actions[..2], ["staff.revoked", "staff.granted"]);
    assert!(events[0].client_ip.is_some());
    desk.app.assert_directory_settled().await;
}

#[tokio::test]
async fn deleting_needs_a_typed_confirmation_removes_the_entry_and_never_reuses_the_uid() {
    let desk = desk().await;
    let app = &desk.app;
    app.signed_in_admin("admin@example.org").await;
    let admin = &app.browser;
    let old_uid = app
        .context
        .store
        .person_by_id(&desk.member_id)
        .await
        .unwrap()
        .unwrap()
        .uid_number
        .unwrap();
    // Helpdesk may not delete.
    let form = format!("{}/delete", desk.account_path());
    assert_eq!(desk.helpdesk.get(&form).await.status(), 403);

    let page = admin.page(&form).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.text("label[for=confirm]"), "Type ada to confirm");
    let response = admin.submit(&form, &form, &[("confirm", "ad")]).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        into_page(response).await.text("#confirm-error"),
        "Error: Type ada exactly to confirm the deletion."
    );
    assert!(app.slapd.search_entry(&desk.ada_dn()).await.is_some());

    let response = admin.submit(&form, &form, &[("confirm", "ada")]).await;
    assert_eq!(location(&response), "/admin/accounts?done=deleted");
    assert_eq!(
        admin.page(&location(&response)).await.text(".notice"),
        "Person’s account (ada) was deleted. Its username and uidNumber will never be given to anyone else."
    );
    let events = app
        .context
        .store
        .audit_of_person(&desk.member_id, 1)
        .await
        .unwrap();
    assert_eq!(events[0].action, "account.deleted");
    assert_eq!(events[0].actor_name.as_deref(), Some("Admin"));
    assert_eq!(events[0].client_ip.as_deref(), Some("127.0.0.1"));
    assert!(app.slapd.search_entry(&desk.ada_dn()).await.is_none());
    let private_group = format!("cn=ada,{}", app.slapd.groups_dn());
    assert!(app.slapd.search_entry(&private_group).await.is_none());
    assert_eq!(app.ldap_member_uids("astro").await, Some(vec![]));
    assert_eq!(location(&desk.member.get("/").await), "/sign-in");
    assert_eq!(
        app.new_browser()
            .sign_in("ada", GOOD_PASSWORD)
            .await
            .status(),
        401
    );
    let deleted = admin.page("/admin/accounts?status=deleted").await;
    assert_eq!(deleted.select_all("table.accounts td.username"), ["ada"]);
    assert_eq!(deleted.text("table.accounts td.name"), "Deleted account");
    // The erased email no longer finds anyone.
    let erased = admin
        .page("/admin/accounts?status=deleted&q=ada%40example.org")
        .await;
    assert!(erased.select_all("table.accounts tbody tr").is_empty());

    // Someone new, even with the same username, gets another uidNumber.
    let org = app.create_org("Bio", "bio").await;
    let link = app
        .invite_to(&org, "ada2@example.org", "Again", Role::Member)
        .await;
    let again = app.new_browser();
    assert_eq!(
        again.accept_invitation(&link, GOOD_PASSWORD).await.status(),
        303
    );
    let taken = again
        .submit(
            "/account/setup",
            "/account/setup",
            &[("username", "ada"), ("login_shell", "/bin/bash")],
        )
        .await;
    assert_eq!(taken.status(), 409, "the username stays taken");
    let newcomer = app.activated_member(&org, "adb").await;
    assert_eq!(newcomer.get("/").await.status(), 200);
    let new_uid = app
        .context
        .store
        .person_by_id(&app.person_id("adb@example.org").await)
        .await
        .unwrap()
        .unwrap()
        .uid_number
        .unwrap();
    assert!(new_uid > old_uid);
    desk.app.assert_directory_settled().await;
}
