//! SSH keys: parsed and checked, shown with fingerprints, and written to `sshPublicKey`
//! in LDAP exactly, leaving the entry's other attributes alone.

use base64::Engine;

use crate::support::app::{Browser, GOOD_PASSWORD, TestApp, into_page, location};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/api/fixtures/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// A syntactically valid ed25519 public key made from `seed`.
pub fn ed25519_key(seed: u8) -> String {
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".as_slice(), &[seed; 32]] {
        blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "ssh-ed25519 {} key{seed}@test",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

pub async fn add_key(browser: &Browser, key: &str) -> reqwest::Response {
    browser
        .submit("/account/keys", "/account/keys", &[("key", key)])
        .await
}

pub async fn ldap_keys(app: &TestApp, username: &str) -> Vec<String> {
    let entry = app
        .slapd
        .search_entry(&app.slapd.person_dn(username))
        .await
        .unwrap();
    let mut keys = entry.attrs.get("sshPublicKey").cloned().unwrap_or_default();
    keys.sort();
    keys
}

#[tokio::test]
async fn keys_added_and_removed_show_up_exactly_in_ldap() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let browser = app.activated_member(&org, "mcurie").await;
    // Something else owns another attribute of the entry; the portal must leave it.
    {
        let mut ldap = app.slapd.admin_conn().await;
        ldap.modify(
            &app.slapd.person_dn("mcurie"),
            vec![ldap3::Mod::Add(
                "description",
                std::collections::HashSet::from(["set by another tool"]),
            )],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }

    let ed25519 = fixture("ed25519.pub");
    let response = add_key(&browser, &ed25519).await;
    assert_eq!(location(&response), "/account/keys?done=added");
    let page = browser.page("/account/keys?done=added").await;
    assert_eq!(
        page.text(".notice"),
        "The key SHA256:rZPnsdj8GiWuWknWL1aho+vUuKLdiAMW/5MW9/lXXD4 (ed25519@test) was added. You can log in with it once the directory is updated."
    );
    assert_eq!(
        page.text("td.fingerprint"),
        "SHA256:rZPnsdj8GiWuWknWL1aho+vUuKLdiAMW/5MW9/lXXD4",
        "as ssh-keygen -l shows it"
    );
    assert_eq!(page.text("td.type"), "ssh-ed25519");
    assert_eq!(page.text("td.comment"), "ed25519@test");
    assert_eq!(ldap_keys(&app, "mcurie").await, vec![ed25519.clone()]);

    let rsa = fixture("rsa-3072.pub");
    let ecdsa = fixture("ecdsa-256.pub");
    for key in [&rsa, &ecdsa] {
        assert_eq!(add_key(&browser, key).await.status(), 303);
    }
    let page = browser.page("/account/keys").await;
    let mut types = page.select_all("td.type");
    types.sort();
    assert_eq!(
        types,
        vec!["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa (3072 bits)"]
    );
    let mut expected = vec![ed25519.clone(), rsa.clone(), ecdsa.clone()];
    expected.sort();
    assert_eq!(ldap_keys(&app, "mcurie").await, expected);

    // Remove the first: LDAP holds exactly the other two, and the rest of the entry stays.
    let row = scraper::Selector::parse("table.keys tbody tr").unwrap();
    let kind = scraper::Selector::parse("td.type").unwrap();
    let link = scraper::Selector::parse("a.button-link").unwrap();
    let remove = page
        .html
        .select(&row)
        .find(|tr| {
            tr.select(&kind)
                .any(|td| td.text().collect::<String>() == "ssh-ed25519")
        })
        .and_then(|tr| tr.select(&link).next())
        .and_then(|link| link.value().attr("href"))
        .unwrap()
        .to_string();
    let confirmation = browser.page(&remove).await;
    assert_eq!(
        confirmation.attr("form.confirm-actions", "action").unwrap(),
        remove
    );
    let response = browser
        .post_form(&remove, &[("csrf_token", &confirmation.csrf_token())])
        .await;
    assert_eq!(location(&response), "/account/keys?done=removed");
    let mut expected = vec![rsa, ecdsa];
    expected.sort();
    assert_eq!(ldap_keys(&app, "mcurie").await, expected);
    let entry = app
        .slapd
        .search_entry(&app.slapd.person_dn("mcurie"))
        .await
        .unwrap();
    assert_eq!(entry.attrs["description"], vec!["set by another tool"]);
    assert!(
        app.slapd
            .can_bind(&app.slapd.person_dn("mcurie"), GOOD_PASSWORD)
            .await
    );
    // Someone else's key id (or a made-up one) is not found.
    let token = browser.page("/account/keys").await.csrf_token();
    let foreign = browser
        .post_form("/account/keys/not-a-key/remove", &[("csrf_token", &token)])
        .await;
    assert_eq!(foreign.status(), 404);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn bad_keys_are_refused_with_the_reason_next_to_the_field() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let browser = app.activated_member(&org, "mcurie").await;
    let ed25519 = fixture("ed25519.pub");
    let mut parts = ed25519.split(' ');
    let (kind, blob) = (parts.next().unwrap(), parts.next().unwrap());
    let cases = [
        (fixture("dsa-1024.pub"), "DSA keys are no longer considered safe and are refused."),
        (fixture("rsa-1024.pub"), "This RSA key has 1024 bits; at least 3072 are required."),
        (format!("{kind} {blob}garbage"), "This is not a valid OpenSSH public key."),
        (format!("{kind} {}", &blob[..blob.len() - 8]), "This is not a valid OpenSSH public key."),
        ("x".repeat(1024 * 1024), "That is far too long for a public key."),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----".to_string(), "Paste one key at a time"),
        (String::new(), "Paste your public key"),
    ];
    for (key, message) in cases {
        let page = into_page(add_key(&browser, &key).await).await;
        assert_eq!(page.status, 422, "{message}");
        let shown = page.text("#key-error");
        assert!(shown.starts_with(&format!("Error: {message}")), "{shown}");
    }
    assert!(ldap_keys(&app, "mcurie").await.is_empty());
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn one_key_cannot_serve_two_accounts_and_twenty_is_the_most() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let marie = app.activated_member(&org, "mcurie").await;
    let pierre = app.activated_member(&org, "pcurie").await;
    let key = fixture("ed25519.pub");
    assert_eq!(add_key(&marie, &key).await.status(), 303);
    let page = into_page(add_key(&pierre, &key).await).await;
    assert_eq!(page.status, 409);
    assert!(
        page.text("#key-error")
            .contains("Each key may be used by one account only.")
    );
    assert!(ldap_keys(&app, "pcurie").await.is_empty());

    for seed in 1..20 {
        assert_eq!(
            add_key(&marie, &ed25519_key(seed)).await.status(),
            303,
            "key {seed}"
        );
    }
    let page = into_page(add_key(&marie, &ed25519_key(99)).await).await;
    assert_eq!(page.status, 409);
    assert_eq!(
        page.text("#key-error"),
        "Error: You already have 20 keys. Remove one you no longer use first."
    );
    assert_eq!(ldap_keys(&app, "mcurie").await.len(), 20);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_key_file_can_be_uploaded_with_the_form_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let browser = app.activated_member(&org, "mcurie").await;
    let page = browser.page("/account/keys").await;
    assert_eq!(page.text("label[for=file]"), "Public key file");
    let action = page
        .attr("form[enctype='multipart/form-data']", "action")
        .unwrap();
    assert!(action.starts_with("/account/keys/upload?csrf_token="));
    let upload = |body: Vec<u8>| {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(body).file_name("id_ed25519.pub"),
        )
    };
    let key = fixture("ed25519.pub");

    // Without the token (or with a wrong one) the upload is refused.
    for url in [
        "/account/keys/upload".to_string(),
        "/account/keys/upload?csrf_token=forged".to_string(),
    ] {
        let refused = browser
            .client
            .post(format!("{}{url}", browser.base))
            .multipart(upload(key.clone().into_bytes()))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{url}");
    }
    let too_big = into_page(
        browser
            .client
            .post(format!("{}{action}", browser.base))
            .multipart(upload(vec![b'A'; 200_000]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(too_big.status, 413);
    assert!(
        too_big
            .text("#key-error")
            .starts_with("Error: That file is far too large")
    );

    let added = browser
        .client
        .post(format!("{}{action}", browser.base))
        .multipart(upload(format!("{key}\n").into_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&added), "/account/keys?done=added");
    assert_eq!(ldap_keys(&app, "mcurie").await, vec![key]);
    app.assert_directory_settled().await;
}
