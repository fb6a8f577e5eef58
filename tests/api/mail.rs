use roster::config::MailTransportKind;

use crate::support::app::TestApp;

#[tokio::test]
async fn the_file_transport_writes_an_eml_with_text_and_html_parts() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let app = TestApp::spawn_with(|settings| {
        settings.mail.transport = MailTransportKind::File;
        settings.mail.file_dir = mail_dir.clone();
    })
    .await;
    let created = roster::usecases::invitations::create_invitation(
        &app.context,
        roster::usecases::invitations::InvitationRequest {
            email: roster::domain::Email::parse("ada@example.org").unwrap(),
            surname: roster::domain::PersonName::parse("surname", "Lovelace").unwrap(),
            given_name: None,
            role: roster::domain::Role::SiteAdmin,
            organisation_id: None,
            organisation_name: None,
            inviter: roster::usecases::Actor::CommandLine,
            may_grant_manager: true,
            client_ip: None,
            ends_on: None,
            message: None,
        },
    )
    .await
    .unwrap();
    app.deliver_mail().await;
    let files: Vec<_> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let mail = crate::support::smtp::ReceivedMail::parse(std::fs::read(&files[0]).unwrap());
    assert_eq!(mail.subject, "You are invited to Roster");
    assert!(mail.links().contains(&created.link));
    assert!(mail.html_links().contains(&created.link));
    // Nothing went to the SMTP sink.
    assert!(app.smtp.messages().is_empty());
}
