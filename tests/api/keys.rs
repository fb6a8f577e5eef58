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
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----".to_string(), "This is a private key, which must never be shared."),
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
async fn a_key_file_is_uploaded_with_the_token_in_the_form_body_and_errors_beside_the_file_field() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let browser = app.activated_member(&org, "mcurie").await;
    let page = browser.page("/account/keys").await;
    assert_eq!(page.text("label[for=file]"), "Public key file");
    // The token travels in a hidden field, never in the URL.
    let action = page
        .attr("form[enctype='multipart/form-data']", "action")
        .unwrap();
    assert_eq!(action, "/account/keys/upload");
    let token = page
        .attr(
            "form[enctype='multipart/form-data'] input[type=hidden][name=csrf_token]",
            "value",
        )
        .unwrap();
    let file = |body: Vec<u8>| reqwest::multipart::Part::bytes(body).file_name("id_ed25519.pub");
    let with_token = |token: &str, body: Vec<u8>| {
        reqwest::multipart::Form::new()
            .text("csrf_token", token.to_string())
            .part("file", file(body))
    };
    let send = |url: String, form: reqwest::multipart::Form| {
        browser
            .client
            .post(format!("{}{url}", browser.base))
            .multipart(form)
            .send()
    };
    let key = fixture("ed25519.pub");

    // Without the token, with a wrong one, or with it only in the URL: refused, saying why.
    for (url, form) in [
        (
            action.clone(),
            reqwest::multipart::Form::new().part("file", file(key.clone().into_bytes())),
        ),
        (
            action.clone(),
            with_token("forged", key.clone().into_bytes()),
        ),
        (
            format!("{action}?csrf_token={token}"),
            reqwest::multipart::Form::new().part("file", file(key.clone().into_bytes())),
        ),
    ] {
        let refused = into_page(send(url.clone(), form).await.unwrap()).await;
        assert_eq!(refused.status, 403, "{url}");
        assert!(
            refused
                .html
                .html()
                .contains("This form has expired or did not come from Roster"),
            "{url}"
        );
    }
    assert!(ldap_keys(&app, "mcurie").await.is_empty());

    // Each problem shows beside the file field, not under the paste box.
    let cases: [(Vec<u8>, u16, &str); 4] = [
        (
            vec![b'A'; 200_000],
            413,
            "Error: That file is far too large",
        ),
        (Vec::new(), 422, "Error: Choose your .pub file to upload."),
        (
            vec![0xff, 0xfe, 0x00],
            422,
            "Error: That file is not a text public key.",
        ),
        (
            fixture("ed25519.pub")
                .replace("ssh-ed25519", "ssh-nope")
                .into_bytes(),
            422,
            "Error: This is not a valid OpenSSH public key.",
        ),
    ];
    for (body, status, message) in cases {
        let page = into_page(
            send(action.clone(), with_token(&token, body))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(page.status, status, "{message}");
        assert!(page.text("#file-error").starts_with(message), "{message}");
        assert!(page.select_all("#key-error").is_empty());
        assert_eq!(
            page.attr(
                "form[enctype='multipart/form-data'] .error-summary a",
                "href"
            )
            .as_deref(),
            None,
            "the summary stands before the upload form, not inside it"
        );
        assert_eq!(
            page.attr(".error-summary a", "href").as_deref(),
            Some("#file")
        );
    }

    let added = send(
        action.clone(),
        with_token(&token, format!("{key}\n").into_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(location(&added), "/account/keys?done=added");
    assert_eq!(ldap_keys(&app, "mcurie").await, vec![key]);
    app.assert_directory_settled().await;
}

#[tokio::test]
async fn a_pasted_private_key_is_named_as_such_never_shown_again_nor_kept() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let browser = app.activated_member(&org, "mcurie").await;
    let secret = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
    let private_keys = [
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
        format!("-----BEGIN RSA PRIVATE KEY-----\n{secret}\n-----END RSA PRIVATE KEY-----"),
        format!(
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\n{secret}\n"
        ),
    ];
    for private in &private_keys {
        let page = into_page(add_key(&browser, private).await).await;
        assert_eq!(page.status, 422);
        assert_eq!(
            page.text("#key-error"),
            "Error: This is a private key, which must never be shared. Paste your public key instead: the contents of the .pub file, e.g. ~/.ssh/id_ed25519.pub. If you have pasted this private key anywhere else, treat it as exposed: make a new key pair and stop using this one."
        );
        assert_eq!(page.text("textarea#key"), "", "the box is cleared");
        assert!(!page.html.html().contains(secret), "never shown back");
    }
    assert!(ldap_keys(&app, "mcurie").await.is_empty());
    // With no key yet, the page says what to do next and leads to the form.
    let empty = browser.page("/account/keys").await;
    assert_eq!(
        empty.text("p.empty"),
        "You have no SSH keys yet. Add one below to log in to the clusters."
    );
    assert_eq!(empty.attr("p.empty a", "href").as_deref(), Some("#add-key"));
    assert_eq!(empty.text("h2#add-key"), "Add a key");
    // Nothing of it was kept, not even in the account's history.
    let person_id = app.person_id("mcurie@example.org").await;
    assert!(
        app.context
            .store
            .keys_of(&person_id)
            .await
            .unwrap()
            .is_empty()
    );
    let history = app
        .context
        .store
        .audit_of_person(&person_id, 50)
        .await
        .unwrap();
    assert!(!history.is_empty());
    assert!(
        history
            .iter()
            .all(|event| !format!("{event:?}").contains(secret))
    );
    app.assert_directory_settled().await;
}
