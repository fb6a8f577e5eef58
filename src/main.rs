//! The `roster` command: run the portal, migrate its database, bootstrap administrators.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use roster::config::Settings;
use roster::context::AppContext;
use roster::domain::{Email, PersonName, Role};
use roster::startup::Application;
use roster::usecases::invitations::{InvitationRequest, create_invitation, format_date};

/// Roster: the account portal of a research-computing site.
#[derive(Parser)]
#[command(name = "roster", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML). Every key can be overridden by ROSTER_<SECTION>__<KEY>.
    #[arg(long, short, global = true, env = "ROSTER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web portal (applies pending database migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Site administration from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Invite a site administrator: emails the invitation and prints the activation link.
    ///
    /// This is how the first administrator is made. The link is printed as the last line
    /// of standard output; it lets the invitee choose their own password.
    Invite(InviteArgs),
}

#[derive(Args)]
struct InviteArgs {
    /// Email address of the new administrator.
    #[arg(long)]
    email: String,
    /// Their surname.
    #[arg(long)]
    surname: String,
    /// Their given name.
    #[arg(long)]
    given_name: Option<String>,
}

#[derive(Debug)]
enum CliError {
    /// The user's mistake (bad config or arguments): exit code 2.
    Usage(String),
    /// Anything else: exit code 1.
    Failed(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    roster::telemetry::init("info");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref())
        .map_err(|error| CliError::Usage(error.to_string()))?;
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            AppContext::connect(settings)
                .await
                .map_err(|error| CliError::Failed(error.to_string()))?;
            eprintln!("database is up to date");
            Ok(())
        }
        Command::Admin(AdminCommand::Invite(args)) => invite_admin(settings, args).await,
    }
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    let listen = settings.server.listen.clone();
    let public_url = settings.server.public_url.clone();
    let app = Application::build(settings)
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    tracing::info!(%listen, port = app.port(), %public_url, "Roster is serving");
    app.run_until_stopped()
        .await
        .map_err(|error| CliError::Failed(error.to_string()))
}

async fn invite_admin(settings: Settings, args: InviteArgs) -> Result<(), CliError> {
    let usage = |error: roster::domain::FieldError| {
        CliError::Usage(format!(
            "--{}: {}",
            error.field.replace('_', "-"),
            error.message
        ))
    };
    let email = Email::parse(&args.email).map_err(usage)?;
    let surname = PersonName::parse("surname", &args.surname).map_err(usage)?;
    let given_name =
        PersonName::parse_optional("given_name", args.given_name.as_deref().unwrap_or(""))
            .map_err(usage)?;
    let ctx = AppContext::connect(settings)
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    let created = create_invitation(
        &ctx,
        InvitationRequest {
            email: email.clone(),
            surname,
            given_name,
            role: Role::SiteAdmin,
            organisation_id: None,
            organisation_name: None,
            invited_by: None,
            client_ip: None,
        },
    )
    .await
    .map_err(|error| CliError::Failed(error.to_string()))?;
    match &created.mail {
        Ok(()) => eprintln!("Invitation emailed to {email}."),
        Err(error) => eprintln!(
            "warning: the invitation email to {email} could not be sent ({error}); \
             give them the link below another way."
        ),
    }
    eprintln!(
        "The link works once and expires on {}.",
        format_date(created.expires_at)
    );
    ctx.store.close().await;
    println!("{}", created.link);
    Ok(())
}
