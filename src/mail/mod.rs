//! Outgoing mail: lettre transports (pooled SMTP, `.eml` files, or the log) and one text
//! and one HTML template per message.

mod messages;

pub use messages::{ClaimMail, InvitationMail, NoticeMail, PasswordResetMail};

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailSettings, MailTransportKind, SmtpTls};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail settings: {0}")]
    Config(String),
    #[error("invalid address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("could not build the message: {0}")]
    Build(String),
    #[error("could not render the message: {0}")]
    Render(#[from] askama::Error),
    /// The server could not be reached or asked to try later (4xx): worth another try.
    #[error("could not deliver the message: {0}")]
    Delivery(String),
    /// The server refused the message for good (5xx), e.g. an unknown mailbox.
    #[error("the mail server refused the message: {0}")]
    Refused(String),
}

impl MailError {
    /// Whether sending the same message again cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Address { .. } | Self::Build(_) | Self::Render(_) | Self::Refused(_)
        )
    }
}

enum Transport {
    /// Pooled: connections are reused across messages.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
    Log,
}

/// A rendered message: subject, plain text and HTML.
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let from = parse_mailbox(&settings.from)?;
        let transport = match settings.transport {
            MailTransportKind::Smtp => Transport::Smtp(smtp_transport(settings)?),
            MailTransportKind::File => {
                std::fs::create_dir_all(&settings.file_dir).map_err(|error| {
                    MailError::Config(format!(
                        "cannot create mail.file_dir {}: {error}",
                        settings.file_dir.display()
                    ))
                })?;
                Transport::File(AsyncFileTransport::new(&settings.file_dir))
            }
            MailTransportKind::Log => Transport::Log,
        };
        Ok(Self { transport, from })
    }

    /// Whether the SMTP relay answers (a start-up check); other transports always do.
    pub async fn check_relay(&self) -> Result<(), String> {
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err("it did not accept a connection".into()),
                Err(error) => Err(error.to_string()),
            },
            Transport::File(_) | Transport::Log => Ok(()),
        }
    }

    pub async fn send(&self, to: &str, mail: RenderedMail) -> Result<(), MailError> {
        let to = parse_mailbox(to)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.clone())
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|error| MailError::Build(error.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                // A connection that broke mid-conversation (a pooled one closed by the
                // server, say) is worth one more try; a refusal by the server is not.
                let sent = match smtp.send(message.clone()).await {
                    Err(error) if !error.is_permanent() => {
                        tracing::info!(%error, "mail not taken; trying once more");
                        smtp.send(message).await
                    }
                    other => other,
                };
                sent.map_err(|error| {
                    if error.is_permanent() {
                        MailError::Refused(error.to_string())
                    } else {
                        MailError::Delivery(error.to_string())
                    }
                })?;
            }
            Transport::File(file) => {
                file.send(message)
                    .await
                    .map_err(|error| MailError::Delivery(error.to_string()))?;
            }
            // The demo transport: the recipient and subject only, never the body, which
            // may carry a single-use link.
            Transport::Log => {
                tracing::info!(to = %to.email, subject = %mail.subject, "mail (log transport)");
            }
        }
        tracing::info!(to = %to.email, subject = %mail.subject, "mail sent");
        Ok(())
    }
}

fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .parse()
        .map_err(|error: lettre::address::AddressError| MailError::Address {
            address: address.to_string(),
            reason: error.to_string(),
        })
}

fn smtp_transport(
    settings: &MailSettings,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = settings.smtp_host.as_str();
    let tls_parameters = || {
        TlsParameters::new(host.to_string())
            .map_err(|error| MailError::Config(format!("TLS for {host}: {error}")))
    };
    let tls = match settings.smtp_tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters()?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(settings.smtp_port)
        .tls(tls)
        .timeout(Some(std::time::Duration::from_secs(20)));
    if let Some(username) = &settings.smtp_username {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            settings.smtp_password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}
