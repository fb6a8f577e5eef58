//! Inviting from a spreadsheet on the Invitations page: the preview (nothing sent), what
//! each row will do, unticking, an idempotent confirmation, the batch page, its errors as a
//! spreadsheet-safe CSV, and hostile files refused with clear messages.

use std::collections::HashSet;

use roster::domain::Role;
use scraper::Selector;

use crate::support::app::{Browser, Page, TestApp, into_page};

/// Uploads `csv` from the Invitations page's upload form; returns the answer as a page.
async fn upload(browser: &Browser, org_id: &str, csv: Vec<u8>) -> Page {
    upload_with_message(browser, org_id, csv, "").await
}

/// Uploads `csv` with a personal message typed in the upload form.
async fn upload_with_message(browser: &Browser, org_id: &str, csv: Vec<u8>, message: &str) -> Page {
    let page = browser.page(&format!("/orgs/{org_id}/invitations")).await;
    let action = page
        .attr("form[enctype='multipart/form-data']", "action")
        .expect("the upload form");
    let mut form = reqwest::multipart::Form::new().text("csrf_token", page.csrf_token());
    if !csv.is_empty() {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(csv).file_name("class.csv"),
        );
    }
    let form = form.text("message", message.to_string());
    let response = browser
        .client
        .post(format!("{}{action}", browser.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    into_page(response).await
}

/// The preview's ticked lines.
fn ticked(preview: &Page) -> Vec<String> {
    let selector = Selector::parse("input[type=checkbox][name=line][checked]").unwrap();
    preview
        .html
        .select(&selector)
        .filter_map(|input| input.value().attr("value").map(str::to_string))
        .collect()
}

/// Submits the preview's confirm form with these lines ticked.
async fn confirm(browser: &Browser, preview: &Page, lines: &[String]) -> reqwest::Response {
    let action = preview
        .attr("form[action*='/batch/confirm']", "action")
        .expect("the confirm form");
    let batch_id = preview.attr("input[name=batch_id]", "value").unwrap();
    let sheet = preview.text("textarea[name=sheet]");
    let mut form = reqwest::multipart::Form::new()
        .text("csrf_token", preview.csrf_token())
        .text("batch_id", batch_id)
        .text("sheet", sheet);
    if !preview.select_all("textarea[name=message]").is_empty() {
        form = form.text("message", preview.text("textarea[name=message]"));
    }
    for line in lines {
        form = form.text("line", line.clone());
    }
    browser
        .client
        .post(format!("{}{action}", browser.base))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// A class of 300: 292 good rows, 5 bad ones and 3 repeats of earlier addresses, saved by
/// a spreadsheet with a BOM, semicolons and CRLF line ends.
fn class_of_300() -> (Vec<u8>, Vec<u64>) {
    let mut csv = String::from("\u{feff}Email;Surname;Given name;Role;End date\r\n");
    let mut bad_lines = Vec::new();
    let names = ["Müller", "Nuñez", "O'Brien", "Smith"];
    let mut line = 1_u64;
    for n in 0..292 {
        line += 1;
        let surname = names[n % names.len()];
        csv.push_str(&format!(
            "student{n}@example.org;\"{surname}\";Student {n};;2099-06-30\r\n"
        ));
        if n == 100 {
            for bad in [
                "not-an-email;Bad;;;\r\n",
                "=HYPERLINK(\"http://evil.example/\",\"x\")@example.org;Formula;;;\r\n",
                "past@example.org;Late;;;2001-01-01\r\n",
                "wizard@example.org;Merlin;;wizard;\r\n",
                "nosurname@example.org;;;;\r\n",
            ] {
                line += 1;
                bad_lines.push(line);
                csv.push_str(bad);
            }
        }
    }
    for n in [3, 50, 291] {
        line += 1;
        bad_lines.push(line);
        csv.push_str(&format!("STUDENT{n}@example.org;Again;;;\r\n"));
    }
    (csv.into_bytes(), bad_lines)
}

#[tokio::test]
async fn a_class_of_300_is_previewed_then_invited_once_with_292_working_links() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    app.deliver_mail().await;
    let mails_before = app.smtp.messages().len();
    let (csv, bad_lines) = class_of_300();

    let preview = upload(&owner, &org.id, csv).await;
    assert_eq!(preview.status, 200, "{}", preview.html.html());
    assert_eq!(
        preview.select_all("tr.outcome-create").len(),
        292,
        "{:?}",
        preview.select_all("tr.outcome-error td.what")
    );
    let error_lines: Vec<u64> = preview
        .select_all("tr.outcome-error td.line")
        .iter()
        .map(|line| line.parse().unwrap())
        .collect();
    assert_eq!(error_lines, bad_lines);
    // Each error beside its row, with the reason.
    let what = |line: u64| preview.text(&format!("tr#line-{line} td.what"));
    assert!(
        what(bad_lines[0]).contains("email"),
        "{}",
        what(bad_lines[0])
    );
    assert!(
        what(bad_lines[2]).contains("past"),
        "{}",
        what(bad_lines[2])
    );
    assert!(what(bad_lines[3]).contains("member, manager or owner"));
    assert!(
        what(bad_lines[5]).contains("Duplicate of line 5."),
        "{}",
        what(bad_lines[5])
    );
    assert_eq!(preview.text("tr#line-4 td.name"), "Student 2 O'Brien");
    assert_eq!(preview.text("tr#line-2 td.name"), "Student 0 Müller");
    // Nothing is written or mailed before the confirmation.
    app.deliver_mail().await;
    assert_eq!(app.smtp.messages().len(), mails_before);
    assert_eq!(
        app.context
            .store
            .invitations_of_organisation(&org.id)
            .await
            .unwrap()
            .len(),
        1,
        "only the PI's own invitation"
    );

    let lines = ticked(&preview);
    assert_eq!(lines.len(), 292);
    let confirmed = confirm(&owner, &preview, &lines).await;
    assert_eq!(confirmed.status(), 303);
    let status_path = crate::support::app::location(&confirmed);
    // A double submit (or a refresh) creates nothing twice.
    let again = confirm(&owner, &preview, &lines).await;
    assert_eq!(again.status(), 303);
    assert!(crate::support::app::location(&again).starts_with(&status_path));
    let invitations = app
        .context
        .store
        .invitations_of_organisation(&org.id)
        .await
        .unwrap();
    assert_eq!(invitations.len(), 293);

    app.deliver_mail().await;
    let mails: Vec<_> = app.smtp.messages().into_iter().skip(mails_before).collect();
    assert_eq!(mails.len(), 292);
    let links: HashSet<String> = mails
        .iter()
        .map(crate::support::app::invitation_link)
        .collect();
    assert_eq!(links.len(), 292, "every mail has its own link");
    let mueller = mails
        .iter()
        .find(|mail| mail.is_to("student0@example.org"))
        .unwrap();
    assert!(
        mueller.text.contains("Hello Student 0 Müller"),
        "{}",
        mueller.text
    );
    let newcomer = app.new_browser();
    let link = crate::support::app::invitation_link(mueller);
    let accepted = newcomer
        .accept_invitation(&link, crate::support::app::GOOD_PASSWORD)
        .await;
    assert_eq!(accepted.status(), 303, "the link works");

    // The batch page: what was done, and the mail.
    let status = owner.page(&status_path).await;
    assert_eq!(status.status, 200);
    let counts = status.select_all("ul.batch-counts li");
    assert!(
        counts.contains(&"292 invitations created".to_string()),
        "{counts:?}"
    );
    assert!(
        counts.contains(&"8 rows with errors".to_string()),
        "{counts:?}"
    );
    assert_eq!(status.text(".mail-counts .sent"), "292 sent");
    assert_eq!(status.select_all("table.batch-created tbody tr").len(), 292);

    // One audit event for the batch and one per invitation.
    let events = app
        .context
        .store
        .audit_of_organisation(&org.id, 1000)
        .await
        .unwrap();
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(count("invitation.batch"), 1);
    assert_eq!(count("invitation.created"), 292 + 1);

    // The refused rows as CSV, with the formula made harmless.
    let csv = owner.get(&format!("{status_path}/errors.csv")).await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = csv.text().await.unwrap();
    assert!(body.contains("'=HYPERLINK"), "{body}");
    assert!(!body.contains(",=HYPERLINK"), "{body}");
    assert_eq!(body.lines().count(), 1 + 8);
}

#[tokio::test]
async fn the_preview_says_who_is_a_member_invited_or_in_the_directory_and_unticked_rows_are_left() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let manager = app
        .browser_for(&org, "boss@example.org", Role::Manager)
        .await;
    app.activated_member(&org, "member1").await;
    app.invite_to(&org, "invited@example.org", "Waiting", Role::Member)
        .await;
    crate::support::api::add_directory_people(&app, &["dirperson".to_string()]).await;
    let csv = "surname,email,role\n\
               Member,member1@example.org,\n\
               Waiting,invited@example.org,\n\
               Directory,dirperson@example.org,\n\
               New,new@example.org,\n\
               Boss,newboss@example.org,owner\n\
               Left,left@example.org,\n";
    let preview = upload(&manager, &org.id, csv.as_bytes().to_vec()).await;
    assert_eq!(preview.status, 200);
    let outcome = |line: u64| {
        let selector = Selector::parse(&format!("tr#line-{line}")).unwrap();
        preview
            .html
            .select(&selector)
            .next()
            .and_then(|row| row.value().attr("class").map(str::to_string))
            .unwrap()
    };
    assert_eq!(outcome(2), "outcome-skip");
    assert_eq!(outcome(3), "outcome-resend");
    assert_eq!(outcome(4), "outcome-add");
    assert_eq!(outcome(5), "outcome-create");
    assert_eq!(
        outcome(6),
        "outcome-error",
        "a manager may not invite owners"
    );
    assert!(
        preview
            .text("tr#line-6 td.what")
            .contains("only the organisation's owner")
    );
    assert_eq!(outcome(7), "outcome-create");

    // Untick "Left".
    let lines: Vec<String> = ticked(&preview)
        .into_iter()
        .filter(|line| line != "7")
        .collect();
    assert_eq!(confirm(&manager, &preview, &lines).await.status(), 303);
    app.run_jobs().await;
    let emails: Vec<String> = app
        .context
        .store
        .invitations_of_organisation(&org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|listed| listed.invitation.email)
        .collect();
    assert!(emails.contains(&"new@example.org".to_string()));
    assert!(
        !emails.contains(&"left@example.org".to_string()),
        "unticked"
    );
    assert!(!emails.contains(&"newboss@example.org".to_string()));
    // The directory person is a member now, in LDAP too.
    assert!(
        app.ldap_member_uids("astro")
            .await
            .unwrap()
            .contains(&"dirperson".to_string())
    );
    // The resend went out with a new link.
    app.deliver_mail().await;
    let to_invited = app
        .smtp
        .messages()
        .into_iter()
        .filter(|mail| mail.is_to("invited@example.org"))
        .count();
    assert_eq!(to_invited, 2);
}

#[tokio::test]
async fn hostile_files_get_clear_messages_and_never_a_500() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let huge_cell = format!(
        "surname,email\n{},big@example.org\n",
        "A".repeat(1024 * 1024)
    );
    let many_rows = {
        let mut csv = String::from("surname,email\n");
        for n in 0..5001 {
            csv.push_str(&format!("Person,p{n}@example.org\n"));
        }
        csv
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "NUL bytes",
            b"surname,email\nA\0,a@example.org\n".to_vec(),
            422,
            "NUL",
        ),
        (
            "binary junk",
            vec![0xff, 0xfe, 0x00, 0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a],
            422,
            "not a CSV text file",
        ),
        (
            "no email column",
            b"surname,phone\nCurie,123\n".to_vec(),
            422,
            "no \u{201c}email\u{201d} column",
        ),
        ("over 5,000 rows", many_rows.into_bytes(), 422, "5,000"),
        ("over 2 MB", vec![b'a'; 2 * 1024 * 1024 + 10], 413, "2 MB"),
        ("empty", Vec::new(), 422, "Choose a CSV file"),
    ];
    for (what, body, status, message) in cases {
        let page = upload(&owner, &org.id, body).await;
        assert_eq!(page.status, status, "{what}");
        let error = page.text("#sheet-file-error");
        assert!(error.contains(message), "{what}: {error}");
    }
    // A 1 MB cell is a row error beside its row, not a failure of the page.
    let page = upload(&owner, &org.id, huge_cell.into_bytes()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.select_all("tr.outcome-error").len(), 1);
    // Formula cells are shown as text, never evaluated or echoed into an export unsafely.
    let formula = "surname,email\n\"=HYPERLINK(\"\"http://evil.example\"\")\",f@example.org\n";
    let page = upload(&owner, &org.id, formula.as_bytes().to_vec()).await;
    assert_eq!(page.status, 200);
    // Nothing was written by any of it.
    assert_eq!(
        app.context
            .store
            .invitations_of_organisation(&org.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // A confirm form without a batch id or with a forged token is refused, not a 500.
    let refused = owner
        .client
        .post(format!(
            "{}/orgs/{}/invitations/batch/confirm?csrf_token=forged",
            owner.base, org.id
        ))
        .multipart(reqwest::multipart::Form::new().text("sheet", "surname,email\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn with_the_directory_down_the_preview_says_so_and_nothing_is_sent() {
    let mut app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    app.slapd.stop();
    let page = upload(
        &owner,
        &org.id,
        b"surname,email\nCurie,marie@example.org\n".to_vec(),
    )
    .await;
    assert_eq!(page.status, 503);
    assert!(
        page.html.html().contains("Nothing was sent"),
        "{}",
        page.html.html()
    );
    app.slapd.start_again();
    let page = upload(
        &owner,
        &org.id,
        b"surname,email\nCurie,marie@example.org\n".to_vec(),
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.select_all("tr.outcome-create").len(), 1);
}

const SHEET_MESSAGE: &str = "Welcome to the lab!\nBring <b>a laptop</b> <script>alert(1)</script>";

#[tokio::test]
async fn a_spreadsheet_sends_one_personal_message_with_every_new_invitation_and_a_resend_keeps_its_first()
 {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astrophysics Lab", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    // Invited before, by the form, with its own message.
    let sent = owner
        .submit(
            &format!("/orgs/{}/invitations", org.id),
            &format!("/orgs/{}/invitations", org.id),
            &[
                ("surname", "Waiting"),
                ("email", "waiting@example.org"),
                ("role", "member"),
                ("message", "See you on Monday."),
            ],
        )
        .await;
    assert_eq!(sent.status(), 200);
    let csv =
        "surname,given name,email\nCurie,Marie,marie@example.org\nWaiting,,waiting@example.org\n";
    let preview = upload_with_message(
        &owner,
        &org.id,
        csv.as_bytes().to_vec(),
        &format!("  {}\r\n", SHEET_MESSAGE.replace('\n', "\r\n")),
    )
    .await;
    assert_eq!(preview.status, 200);
    // The preview shows the message as it will be sent, as text, and carries it.
    assert_eq!(
        preview.text(".personal-message figcaption"),
        "Your message, sent with each new invitation:"
    );
    assert_eq!(preview.text(".personal-message blockquote"), SHEET_MESSAGE);
    assert!(preview.select_all(".personal-message script").is_empty());
    assert_eq!(preview.text("textarea[name=message]").trim(), SHEET_MESSAGE);
    let lines = ticked(&preview);
    assert_eq!(confirm(&owner, &preview, &lines).await.status(), 303);
    app.deliver_mail().await;

    // The new invitation carries the message, in the mail and on the page its link opens.
    let to_marie: Vec<_> = app
        .smtp
        .messages()
        .into_iter()
        .filter(|mail| mail.is_to("marie@example.org"))
        .collect();
    assert_eq!(to_marie.len(), 1);
    let text = to_marie[0].text.replace("\r\n", "\n");
    assert!(
        text.contains(&format!("Message from Tester:\n\n{SHEET_MESSAGE}\n")),
        "{text}"
    );
    let link = to_marie[0]
        .links()
        .into_iter()
        .find(|link| link.contains("/invitations/"))
        .expect("the invitation link");
    let accept = app.new_browser().page(&link).await;
    assert_eq!(accept.status, 200);
    assert_eq!(accept.text(".personal-message blockquote"), SHEET_MESSAGE);
    assert!(accept.select_all(".personal-message script").is_empty());

    // The resent invitation repeats the message it was first sent with.
    let to_waiting: Vec<_> = app
        .smtp
        .messages()
        .into_iter()
        .filter(|mail| mail.is_to("waiting@example.org"))
        .collect();
    assert_eq!(to_waiting.len(), 2, "the first mail and the batch's resend");
    let resent = to_waiting[1].text.replace("\r\n", "\n");
    assert!(resent.contains("See you on Monday."), "{resent}");
    assert!(!resent.contains("Welcome to the lab"), "{resent}");
}

#[tokio::test]
async fn a_bad_personal_message_is_refused_beside_its_field_and_kept_and_nothing_is_sent() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Astro", "astro").await;
    let owner = app.browser_for(&org, "pi@example.org", Role::Owner).await;
    let csv = b"surname,email\nCurie,marie@example.org\n".to_vec();
    let too_long = "x".repeat(1_001);
    let page = upload_with_message(&owner, &org.id, csv, &too_long).await;
    assert_eq!(page.status, 422);
    assert_eq!(
        page.text("#sheet-message-error"),
        "Error: The message must be at most 1,000 characters; it has 1001. Shorten it by 1."
    );
    assert_eq!(
        page.attr("#sheet-message", "aria-describedby").as_deref(),
        Some("sheet-message-hint sheet-message-error")
    );
    assert_eq!(page.text("textarea#sheet-message"), too_long, "input kept");
    assert!(page.select_all("#sheet-file-error").is_empty());

    // No file and a control character: both problems, each beside its own field.
    let page = upload_with_message(&owner, &org.id, Vec::new(), "Ring the bell\u{7}").await;
    assert_eq!(page.status, 422);
    assert_eq!(
        page.text("#sheet-file-error"),
        "Error: Choose a CSV file to upload."
    );
    assert_eq!(
        page.text("#sheet-message-error"),
        "Error: The message contains invisible control characters. Type it again, or paste it as plain text."
    );
    assert_eq!(page.text("textarea#sheet-message"), "Ring the bell\u{7}");

    // A confirm form whose message was tampered with is refused; nothing is written.
    let preview = upload(
        &owner,
        &org.id,
        b"surname,email\nCurie,marie@example.org\n".to_vec(),
    )
    .await;
    let action = preview
        .attr("form[action*='/batch/confirm']", "action")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", preview.csrf_token())
        .text(
            "batch_id",
            preview.attr("input[name=batch_id]", "value").unwrap(),
        )
        .text("sheet", preview.text("textarea[name=sheet]"))
        .text("line", "2")
        .text("message", "y".repeat(1_001));
    let response = owner
        .client
        .post(format!("{}{action}", owner.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let refused = into_page(response).await;
    assert!(
        refused.html.html().contains("at most 1,000 characters"),
        "{}",
        refused.html.html()
    );
    let invitations = app
        .context
        .store
        .invitations_of_organisation(&org.id)
        .await
        .unwrap();
    assert!(
        !invitations
            .iter()
            .any(|listed| listed.invitation.email == "marie@example.org")
    );
}
