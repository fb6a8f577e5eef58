//! Resources of organisations: after every change that affects who may use one, its
//! posixGroup under `ou=resources` holds exactly the people the access rule allows, and
//! the access check gives each reason.

use std::collections::BTreeSet;

use roster::domain::{
    Description, EndDate, LockReason, OrganisationName, ResourceKind, Role, ShortName, Site,
};
use roster::store::memberships::MembershipChange;
use roster::store::organisations::Organisation;
use roster::store::resources::{Resource, ResourceChange};
use roster::usecases::organisations::{OrgActor, change_membership};
use roster::usecases::resources::{
    NewResourceRequest, ResourceActor, ResourceError, access, change_resource, create_resource,
};

use crate::support::app::TestApp;

const PEOPLE: [&str; 5] = ["mia", "manny", "tom", "newbie", "olga"];

fn admin() -> ResourceActor<'static> {
    ResourceActor {
        actor: roster::usecases::Actor::CommandLine,
        client_ip: None,
        site_admin: true,
    }
}

async fn new_resource(app: &TestApp, org: &Organisation, short: &str, kind: &str) -> Resource {
    app.create_resource(org, short, kind).await
}

/// The group's memberUid values, or `None` when there is no such group.
async fn resource_group(app: &TestApp, group: &str) -> Option<BTreeSet<String>> {
    let dn = format!("cn={group},ou=resources,dc=example,dc=org");
    let entry = app.slapd.search_entry(&dn).await?;
    Some(
        entry
            .attrs
            .get("memberUid")
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    )
}

/// Who the access rule allows, among `PEOPLE`.
async fn allowed(app: &TestApp, resource_id: &str) -> BTreeSet<String> {
    let resource = app
        .context
        .store
        .resource(resource_id)
        .await
        .unwrap()
        .unwrap();
    let mut allowed = BTreeSet::new();
    for username in PEOPLE {
        let decision = access(&app.context, &resource, username).await.unwrap();
        if decision.is_some_and(|access| access.allowed()) {
            allowed.insert(username.to_string());
        }
    }
    allowed
}

/// After the outbox ran, LDAP holds exactly who the rule allows; returns that set.
async fn settled(app: &TestApp, resource: &Resource, step: &str) -> BTreeSet<String> {
    app.run_jobs().await;
    let group = resource_group(app, &resource.group_name)
        .await
        .unwrap_or_else(|| panic!("{step}: no group {}", resource.group_name));
    let allowed = allowed(app, &resource.id).await;
    assert_eq!(
        group, allowed,
        "{step}: memberUid differs from who may use it"
    );
    allowed
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

async fn change(app: &TestApp, resource_id: &str, what: ResourceChange<'_>) {
    let resource = app
        .context
        .store
        .resource(resource_id)
        .await
        .unwrap()
        .unwrap();
    change_resource(&app.context, &resource, resource.version, admin(), &[what])
        .await
        .unwrap();
}

async fn change_member(app: &TestApp, org: &Organisation, username: &str, what: MembershipChange) {
    let page = app
        .context
        .store
        .members_page(&org.id, Some(username), 1, 50, None)
        .await
        .unwrap();
    let member = page.members.into_iter().next().unwrap();
    change_membership(
        &app.context,
        OrgActor {
            actor: roster::usecases::Actor::CommandLine,
            client_ip: None,
            may_grant_manager: true,
        },
        org,
        &member,
        member.version,
        what,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn each_resource_group_holds_exactly_who_may_use_it_after_every_change() {
    let app = TestApp::spawn().await;
    app.signed_in_admin("admin@example.org").await;
    let astro = app.create_org("Astro", "astro").await;
    let bio = app.create_org("Bio", "bio").await;
    app.activated_member(&astro, "mia").await;
    app.activated_with_role(&astro, "manny", Role::Manager)
        .await;
    app.activated_member(&astro, "tom").await;
    app.activated_with_role(&bio, "olga", Role::Owner).await;
    let gpu = new_resource(&app, &astro, "gpu", "cluster").await;
    assert_eq!(gpu.group_name, "astro-gpu");
    assert_eq!(
        settled(&app, &gpu, "created").await,
        set(&["manny", "mia", "tom"]),
        "open to every member whose role holds resources.use; not to another organisation's"
    );

    app.activated_member(&astro, "newbie").await;
    assert!(settled(&app, &gpu, "member added").await.contains("newbie"));

    change_member(&app, &astro, "tom", MembershipChange::Remove).await;
    assert!(!settled(&app, &gpu, "member removed").await.contains("tom"));

    // A site whose managers may not use open resources: a role change takes access away.
    let pool = app.database.pool().await;
    sqlx::query(
        "DELETE FROM role_permissions WHERE role = 'manager' AND permission = 'resources.use'",
    )
    .execute(&pool)
    .await
    .unwrap();
    change_member(&app, &astro, "mia", MembershipChange::Role(Role::Manager)).await;
    assert_eq!(settled(&app, &gpu, "role change").await, set(&["newbie"]));
    sqlx::query(
        "INSERT INTO role_permissions (role, permission) VALUES ('manager', 'resources.use')",
    )
    .execute(&pool)
    .await
    .unwrap();
    change_member(&app, &astro, "mia", MembershipChange::Role(Role::Member)).await;
    assert_eq!(
        settled(&app, &gpu, "role back").await,
        set(&["manny", "mia", "newbie"])
    );

    // Lock and unlock, as staff do.
    let newbie = app
        .context
        .store
        .person_by_id(&app.person_id("newbie@example.org").await)
        .await
        .unwrap()
        .unwrap();
    let admin_person = app
        .context
        .store
        .person_by_id(&app.person_id("admin@example.org").await)
        .await
        .unwrap()
        .unwrap();
    let staff_actor = roster::usecases::staff_actions::StaffActor {
        person: &admin_person,
        client_ip: None,
    };
    roster::usecases::staff_actions::lock(
        &app.context,
        staff_actor,
        &newbie,
        &LockReason::parse("left the lab").unwrap(),
    )
    .await
    .unwrap();
    assert!(!settled(&app, &gpu, "locked").await.contains("newbie"));
    let locked = app
        .context
        .store
        .person_by_id(&newbie.id)
        .await
        .unwrap()
        .unwrap();
    roster::usecases::staff_actions::unlock(&app.context, staff_actor, &locked)
        .await
        .unwrap();
    assert!(settled(&app, &gpu, "unlocked").await.contains("newbie"));

    // A membership that ends.
    let tomorrow = app.context.clock.today() + time::Duration::days(1);
    change_member(
        &app,
        &astro,
        "manny",
        MembershipChange::EndDate(Some(EndDate::from_date(tomorrow))),
    )
    .await;
    assert!(settled(&app, &gpu, "end date set").await.contains("manny"));
    app.context.clock.advance(3 * 86_400);
    roster::usecases::lifecycle::run_lifecycle(&app.context, app.context.clock.now())
        .await
        .unwrap();
    assert_eq!(
        settled(&app, &gpu, "membership ended").await,
        set(&["mia", "newbie"])
    );

    // Restricted: only the access list (and an assigned member).
    change(&app, &gpu.id, ResourceChange::Restrict(true)).await;
    assert_eq!(settled(&app, &gpu, "restricted").await, set(&[]));
    let mia = app.person_id("mia@example.org").await;
    change(
        &app,
        &gpu.id,
        ResourceChange::AccessList(std::slice::from_ref(&mia)),
    )
    .await;
    assert_eq!(settled(&app, &gpu, "listed").await, set(&["mia"]));
    change(&app, &gpu.id, ResourceChange::Assign(Some(&newbie.id))).await;
    assert_eq!(
        settled(&app, &gpu, "assigned").await,
        set(&["mia", "newbie"])
    );

    // The resource's own end date.
    let soon = app.context.clock.today() + time::Duration::days(1);
    change(
        &app,
        &gpu.id,
        ResourceChange::EndsOn(Some(&EndDate::from_date(soon).to_iso())),
    )
    .await;
    assert_eq!(
        settled(&app, &gpu, "end date").await,
        set(&["mia", "newbie"])
    );
    app.context.clock.advance(2 * 86_400);
    roster::usecases::lifecycle::run_lifecycle(&app.context, app.context.clock.now())
        .await
        .unwrap();
    assert_eq!(settled(&app, &gpu, "resource ended").await, set(&[]));

    // Retired: the group stays, empty, with its gidNumber.
    let other = new_resource(&app, &astro, "scope", "device").await;
    assert_eq!(
        settled(&app, &other, "second").await,
        set(&["mia", "newbie"])
    );
    change(&app, &other.id, ResourceChange::Retire).await;
    assert_eq!(settled(&app, &other, "retired").await, set(&[]));
    let entry = app
        .slapd
        .search_entry("cn=astro-scope,ou=resources,dc=example,dc=org")
        .await
        .unwrap();
    assert_eq!(entry.attrs["gidNumber"], vec![other.gid_number.to_string()]);

    // Deleting a retired resource's group is an admin's explicit act.
    change(&app, &other.id, ResourceChange::DeleteGroup).await;
    app.run_jobs().await;
    assert!(
        resource_group(&app, "astro-scope").await.is_none(),
        "deleted"
    );

    // Moved to another organisation: the group is renamed and holds the new members.
    let lab = new_resource(&app, &astro, "lab", "device").await;
    assert_eq!(settled(&app, &lab, "lab").await, set(&["mia", "newbie"]));
    let lab = app.context.store.resource(&lab.id).await.unwrap().unwrap();
    roster::usecases::resources::move_resource(&app.context, &lab, lab.version, admin(), &bio)
        .await
        .unwrap();
    let moved = app.context.store.resource(&lab.id).await.unwrap().unwrap();
    assert_eq!(moved.group_name, "bio-lab");
    assert_eq!(settled(&app, &moved, "moved").await, set(&["olga"]));
    assert!(
        resource_group(&app, "astro-lab").await.is_none(),
        "the old group is gone"
    );
    let entry = app
        .slapd
        .search_entry("cn=bio-lab,ou=resources,dc=example,dc=org")
        .await
        .unwrap();
    assert_eq!(entry.attrs["gidNumber"], vec![lab.gid_number.to_string()]);
}

#[tokio::test]
async fn owners_are_reminded_before_a_resource_ends() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    app.activated_with_role(&astro, "lead", Role::Owner).await;
    let scope = new_resource(&app, &astro, "scope", "device").await;
    let in_ten_days = app.context.clock.today() + time::Duration::days(10);
    change(
        &app,
        &scope.id,
        ResourceChange::EndsOn(Some(&EndDate::from_date(in_ten_days).to_iso())),
    )
    .await;
    app.deliver_mail().await;
    app.smtp.clear();
    let report = roster::usecases::lifecycle::run_lifecycle(&app.context, app.context.clock.now())
        .await
        .unwrap();
    assert_eq!(report.reminders, 1);
    app.deliver_mail().await;
    let mail = app.mail_to("lead@example.org").await;
    assert!(mail.subject.contains("ends on"), "{}", mail.subject);
    assert!(mail.text.contains("astro-scope"), "{}", mail.text);
    // Once per end date.
    let again = roster::usecases::lifecycle::run_lifecycle(&app.context, app.context.clock.now())
        .await
        .unwrap();
    assert_eq!(again.reminders, 0);
}

#[tokio::test]
async fn the_access_check_gives_each_reason() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    let bio = app.create_org("Bio", "bio").await;
    app.activated_member(&astro, "mia").await;
    app.activated_member(&astro, "tom").await;
    app.activated_member(&astro, "lena").await;
    app.activated_member(&bio, "olga").await;
    let scope = new_resource(&app, &astro, "scope", "device").await;
    let reason = |username: &'static str| {
        let app = &app;
        let id = scope.id.clone();
        async move {
            let resource = app.context.store.resource(&id).await.unwrap().unwrap();
            access(&app.context, &resource, username)
                .await
                .unwrap()
                .map(|access| access.reason())
        }
    };
    assert_eq!(reason("mia").await, Some("role"));
    assert_eq!(reason("olga").await, Some("not a member"));
    assert_eq!(reason("nobody").await, None);

    change(&app, &scope.id, ResourceChange::Restrict(true)).await;
    assert_eq!(reason("mia").await, Some("not listed"));
    let tom = app.person_id("tom@example.org").await;
    change(
        &app,
        &scope.id,
        ResourceChange::AccessList(std::slice::from_ref(&tom)),
    )
    .await;
    assert_eq!(reason("tom").await, Some("listed"));
    let mia = app.person_id("mia@example.org").await;
    change(&app, &scope.id, ResourceChange::Assign(Some(&mia))).await;
    assert_eq!(reason("mia").await, Some("assigned"));

    let admin_email = "admin@example.org";
    app.signed_in_admin(admin_email).await;
    let admin_person = app
        .context
        .store
        .person_by_id(&app.person_id(admin_email).await)
        .await
        .unwrap()
        .unwrap();
    let tom_person = app.context.store.person_by_id(&tom).await.unwrap().unwrap();
    roster::usecases::staff_actions::lock(
        &app.context,
        roster::usecases::staff_actions::StaffActor {
            person: &admin_person,
            client_ip: None,
        },
        &tom_person,
        &LockReason::parse("").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(reason("tom").await, Some("locked"));

    let tomorrow = app.context.clock.today() + time::Duration::days(1);
    change_member(
        &app,
        &astro,
        "lena",
        MembershipChange::EndDate(Some(EndDate::from_date(tomorrow))),
    )
    .await;
    app.context.clock.advance(2 * 86_400);
    assert_eq!(reason("lena").await, Some("membership ended"));

    change(&app, &scope.id, ResourceChange::Retire).await;
    assert_eq!(reason("mia").await, Some("retired"));
}

#[tokio::test]
async fn bad_resources_are_refused_with_clear_errors() {
    let app = TestApp::spawn().await;
    let astro = app.create_org("Astro", "astro").await;
    new_resource(&app, &astro, "gpu", "cluster").await;
    let attempt = |short: &'static str, kind: &'static str, site_admin: bool| {
        let app = &app;
        let astro = astro.clone();
        async move {
            create_resource(
                &app.context,
                &astro,
                ResourceActor {
                    site_admin,
                    ..admin()
                },
                NewResourceRequest {
                    short_name: ShortName::parse(short).unwrap(),
                    name: OrganisationName::parse("Thing").unwrap(),
                    kind: ResourceKind::parse(kind, &app.settings.resources.kinds).unwrap(),
                    site: Site::default(),
                    description: Description::parse("").unwrap(),
                    ends_on: None,
                },
            )
            .await
        }
    };
    assert!(matches!(
        attempt("gpu", "cluster", true).await,
        Err(ResourceError::NameTaken(name)) if name == "astro-gpu"
    ));
    assert!(matches!(
        attempt("cluster2", "cluster", false).await,
        Err(ResourceError::NotYours(_))
    ));
    assert!(
        attempt("cam", "device", false).await.is_ok(),
        "a device is self-service"
    );
    assert!(
        ShortName::parse("root").is_err(),
        "reserved names stay refused"
    );
    assert!(ResourceKind::parse("spaceship", &app.settings.resources.kinds).is_err());
    // A group name that would be too long.
    assert!(matches!(
        attempt("abcdefghijklmnopqrstuvwxyz12", "device", true).await,
        Err(ResourceError::Invalid(_))
    ));
}
