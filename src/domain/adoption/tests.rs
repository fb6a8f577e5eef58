use super::*;

fn person(uid: &str, number: i64, mail: Option<&str>) -> ExistingPerson {
    ExistingPerson {
        dn: format!("uid={uid},ou=people,dc=example,dc=org"),
        uid: uid.into(),
        uid_number: Some(number),
        gid_number: Some(number),
        surname: "Person".into(),
        given_name: Some("A \"quoted\"\tname".into()),
        mail: mail.map(str::to_string).into_iter().collect(),
    }
}

fn group(cn: &str, gid: i64, owner: Option<&str>, members: &[&str]) -> ExistingGroup {
    ExistingGroup {
        dn: format!("cn={cn},ou=groups,dc=example,dc=org"),
        cn: cn.into(),
        gid_number: Some(gid),
        member_uids: members.iter().map(|m| (*m).to_string()).collect(),
        owner: owner.map(str::to_string),
        description: None,
    }
}

fn directory() -> (Vec<ExistingPerson>, Vec<ExistingGroup>) {
    let people = vec![
        person("ada", 5001, Some("ada@example.org")),
        person("bob", 5002, Some("bob@example.org")),
        person("twin", 5002, Some("twin@example.org")),
        person("nomail", 5004, None),
        person("same", 5005, Some("ADA@example.org")),
        person("loner", 5006, Some("loner@example.org")),
        person("Bad Name", 5007, Some("bad@example.org")),
    ];
    let groups = vec![
        group(
            "astro",
            7001,
            Some("uid=ada,ou=people,dc=example,dc=org"),
            &["ada", "ghost"],
        ),
        group("orphans", 7002, None, &["ada"]),
        group("loner", 5006, None, &[]),
    ];
    (people, groups)
}

#[test]
fn conflicts_are_listed_with_reasons_and_the_rest_adopted() {
    let (people, groups) = directory();
    let plan = plan_adoption(
        &people,
        &groups,
        &PortalFacts::default(),
        &PlanOptions::default(),
    );
    let adopted: Vec<&str> = plan.people.iter().map(|p| p.uid.as_str()).collect();
    assert_eq!(adopted, ["loner"], "{:#?}", plan.conflicts);
    let reasons: Vec<(&str, &str)> = plan
        .conflicts
        .iter()
        .map(|c| (c.dn.split(',').next().unwrap(), c.reason.as_str()))
        .collect();
    let has = |rdn: &str, fragment: &str| {
        reasons
            .iter()
            .any(|(dn, reason)| *dn == rdn && reason.contains(fragment))
    };
    assert!(has("uid=bob", "duplicate uidNumber 5002"), "{reasons:?}");
    assert!(has("uid=twin", "duplicate uidNumber 5002"));
    assert!(has("uid=nomail", "no mail"));
    assert!(has("uid=ada", "mail ada@example.org is also on"));
    assert!(has("uid=same", "is also on"));
    assert!(has("uid=Bad Name", "breaks Roster's rules"));
    // ada is a conflict, so astro has no owner to adopt it with.
    assert!(has("cn=astro", "owner ada is not a person being adopted"));
    assert!(has("cn=orphans", "no owner"));
    assert!(
        !reasons.iter().any(|(dn, _)| *dn == "cn=loner"),
        "a private group"
    );
    assert_eq!(plan.entries_read, 10);
}

#[test]
fn owners_come_from_the_attribute_or_the_mapping_and_members_are_split() {
    let people = vec![
        person("ada", 5001, Some("ada@example.org")),
        person("bob", 5002, Some("bob@example.org")),
        person("carol", 5003, Some("carol@example.org")),
    ];
    let groups = vec![
        group(
            "astro",
            7001,
            Some("uid=ada,ou=people,dc=example,dc=org"),
            &["bob", "ghost"],
        ),
        group("bio", 7002, None, &[]),
        group("carol", 5003, None, &[]),
    ];
    let options = PlanOptions {
        owners: HashMap::from([("bio".to_string(), "bob".to_string())]),
        personal_groups: true,
    };
    let plan = plan_adoption(&people, &groups, &PortalFacts::default(), &options);
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    let astro = &plan.organisations[0];
    assert_eq!(astro.owner, "ada");
    assert_eq!(astro.members, ["bob", "ada"]);
    assert_eq!(astro.left_out, ["ghost"]);
    assert_eq!(plan.organisations[1].owner, "bob");
    assert_eq!(
        plan.personal,
        [PersonalOrganisation {
            uid: "carol".into(),
            gid_number: Some(5003)
        }]
    );
}

#[test]
fn numbers_roster_handed_out_are_conflicts_and_earlier_adoptions_are_skipped() {
    let people = vec![
        person("ada", 5001, Some("ada@example.org")),
        person("bob", 5002, Some("bob@example.org")),
    ];
    let mut portal = PortalFacts::default();
    portal.uid_claims.insert(5002, "roster-made".into());
    portal.people.insert(
        "ada".into(),
        KnownPerson {
            ldap_dn: Some(people[0].dn.clone()),
            adopted: true,
        },
    );
    let plan = plan_adoption(&people, &[], &portal, &PlanOptions::default());
    assert!(plan.people.is_empty());
    assert_eq!(plan.already_adopted, 1);
    assert_eq!(plan.conflicts.len(), 1);
    assert!(
        plan.conflicts[0]
            .reason
            .contains("already handed out by Roster")
    );
}

#[test]
fn a_written_plan_reads_back_the_same_even_with_comments_and_hostile_text() {
    let people = vec![
        person("ada", 5001, Some("ada@example.org")),
        person("bob", 5002, Some("bob@example.org")),
    ];
    let mut groups = vec![group("astro", 7001, Some("ada"), &["bob"])];
    groups[0].description = Some("Astro \"lab\" \\ ]} # not a comment\n".into());
    let plan = plan_adoption(
        &people,
        &groups,
        &PortalFacts::default(),
        &PlanOptions::default(),
    );
    let text = write_plan(
        &plan,
        &PlanSource {
            made_at: "2026-11-30T12:00:00Z",
            people_base: "ou=people,dc=example,dc=org",
            groups_base: "ou=groups,dc=example,dc=org",
        },
    );
    let mut read = read_plan(&text).unwrap();
    read.already_adopted = plan.already_adopted;
    assert_eq!(read, plan);
    // A person leaves a line out by commenting it.
    let edited = text.replace("  { uid = \"bob\"", "  # { uid = \"bob\"");
    let read = read_plan(&edited).unwrap();
    assert_eq!(read.people.len(), 1);
    assert!(matches!(
        read_plan("version = 2"),
        Err(PlanFileError::Version(2))
    ));
    assert!(matches!(
        read_plan("people = ["),
        Err(PlanFileError::Syntax(_))
    ));
    // An error names its line.
    let broken = text.replace("  { uid = \"bob\"", "  { uid = bob");
    let error = read_plan(&broken).unwrap_err().to_string();
    assert!(
        error.starts_with("the plan is not valid TOML: line "),
        "{error}"
    );
    assert!(matches!(
        read_plan("# nothing\n"),
        Err(PlanFileError::Syntax(_))
    ));
    assert!(matches!(
        read_plan("version = 1\nsurprise = 2\n"),
        Err(PlanFileError::Syntax(_))
    ));
    // A list on one line, and an empty one, read as well.
    let one_line = read_plan(
        "version = 1\npersonal = [ { uid = \"ada\" }, { uid = \"bob\", gid_number = 7 } ]\nconflicts = []\n",
    )
    .unwrap();
    assert_eq!(one_line.personal.len(), 2);
}

#[test]
fn owners_are_read_from_csv_with_a_header_comments_and_dns() {
    let owners = read_owners(
        b"group,owner_username\n# the lab\nastro, ada\nbio,\"uid=bob,ou=people,dc=example,dc=org\"\n",
    )
    .unwrap();
    assert_eq!(owners["astro"], "ada");
    assert_eq!(owners["bio"], "bob");
    let error = read_owners(b"astro,ada\nbio\n").unwrap_err();
    assert!(error.starts_with("line 2:"), "{error}");
    assert!(read_owners(b"astro,ada,extra\n").is_err());
}
