//! The `roster` command: run the portal, migrate its database, bootstrap administrators.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use roster::config::Settings;
use roster::context::AppContext;
use roster::domain::{
    Description, Email, EndDate, InvitationState, OrganisationName, PersonName, Role, ShortName,
};
use roster::startup::Application;
use roster::store::jobs::JobKind;
use roster::store::mail_outbox::Delivery;
use roster::store::organisations::Organisation;
use roster::usecases::invitations::{
    CreatedInvitation, InvitationRequest, create_invitation, format_date,
};
use roster::usecases::organisations::{
    NewOrganisationRequest, OrganisationError, create_organisation,
};

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
    /// Write a consistent copy of the SQLite database to FILE while the portal runs.
    /// PostgreSQL: use pg_dump. Back up the config file too; the API's signing keys are in
    /// the database.
    Backup {
        /// Where to write it; must not exist yet.
        file: PathBuf,
    },
    /// Put a backup made by `roster backup` in place of the SQLite database. Stop every
    /// instance first. The uid/gid counters never move backwards; jobs pending in the
    /// backup run at the next start, and `roster reconcile` lists LDAP entries made after
    /// the backup.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Site administration from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Organisations (projects, labs): each is a POSIX group in LDAP.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Invitations into an organisation, for scripted provisioning.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Membership end dates: reminders, endings and locking accounts left without one.
    #[command(subcommand)]
    Lifecycle(LifecycleCommand),
    /// The directory outbox: changes waiting to be written to LDAP.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Service clients of the automation API (docs/api.md).
    #[command(subcommand)]
    Client(ClientCommand),
    /// The keys that sign the API's access tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Resources of organisations (clusters, storage, devices, services): each is a POSIX
    /// group holding exactly the people who may use it.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// SCIM 2.0 targets (`[[provisioning.scim]]`): identity providers kept in step.
    #[command(subcommand)]
    Scim(ScimCommand),
    /// Adopt an existing directory: its people as linked accounts, its groups as
    /// organisations, numbers and names kept. Plan first, review, then apply.
    #[command(subcommand)]
    Adopt(AdoptCommand),
    /// The LDAP drift report: every account, organisation group and resource group whose
    /// entry differs from what Roster expects, and entries under Roster's bases it does
    /// not know; one line each, then the counts (exit status 3 when there is any). With
    /// --apply, repair them all (refused beyond reconcile.max_change_percent).
    Reconcile(ReconcileArgs),
}

#[derive(Subcommand)]
enum AdoptCommand {
    /// Read the people and groups bases and write a plan (TOML, one line per person,
    /// organisation or conflict) to review and edit. Writes nothing else.
    Plan(AdoptPlanArgs),
    /// Carry out a reviewed plan: record what it still says (the directory is read again),
    /// reserve every adopted name and number, and audit it as one run. Running it again
    /// changes nothing; an interrupted run is resumed.
    Apply(AdoptApplyArgs),
    /// Mail the adopted members of an organisation who have not claimed their account a
    /// link to choose their password (again, for those mailed before).
    Claim {
        /// The organisation's short name.
        #[arg(long)]
        org: String,
    },
}

#[derive(Args)]
struct AdoptPlanArgs {
    /// Write the plan to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A CSV file of `group,owner_username` lines naming groups' owners (before the owner
    /// attribute).
    #[arg(long, value_name = "CSV")]
    owners: Option<PathBuf>,
    /// The group attribute naming its owner, by DN or username.
    #[arg(long, default_value = "owner", value_name = "ATTRIBUTE")]
    owner_attribute: String,
    /// Plan a personal organisation, named after the username, for each person in no
    /// adopted group.
    #[arg(long)]
    personal_groups: bool,
}

#[derive(Args)]
struct AdoptApplyArgs {
    /// The plan, as written by `roster adopt plan` and reviewed.
    plan: PathBuf,
    /// Refuse the run if it would adopt or create more than this percentage of the
    /// entries read.
    #[arg(long, value_name = "PERCENT")]
    max_change: Option<f64>,
    /// The group attribute naming its owner, as given to `adopt plan`.
    #[arg(long, default_value = "owner", value_name = "ATTRIBUTE")]
    owner_attribute: String,
    /// Mail everyone adopted by this run a link to claim their account.
    #[arg(long)]
    send_claims: bool,
}

#[derive(clap::Args)]
struct ReconcileArgs {
    /// Repair every difference: accounts and groups rewritten through the outbox, unknown
    /// entries deleted; audited as one repair.
    #[arg(long)]
    apply: bool,
    /// Only this organisation (its short name): its group, its members' accounts and its
    /// resources' groups.
    #[arg(long, value_name = "SHORT")]
    org: Option<String>,
    /// Refuse --apply when it would touch more than this percentage of the entries under
    /// Roster's bases (default: reconcile.max_change_percent).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u32).range(0..=100))]
    max_change: Option<u32>,
}

#[derive(Subcommand)]
enum ScimCommand {
    /// Compare a target's Users and Groups with what Roster expects and print every
    /// difference (exit status 3 when there is any); with --apply, repair them all.
    /// Objects at the target without a Roster externalId are never touched.
    Reconcile(ScimReconcileArgs),
}

#[derive(clap::Args)]
struct ScimReconcileArgs {
    /// The target's name in the configuration.
    target: String,
    /// Repair every difference (queued through the outbox, audited, then run).
    #[arg(long)]
    apply: bool,
}

#[derive(Subcommand)]
enum ResourceCommand {
    /// Create a resource for an organisation, as a site administrator would; prints its id.
    Create(ResourceCreateArgs),
    /// List resources as tab-separated lines: group, kind, status, site, end date, name.
    List {
        /// Only this organisation's (its short name).
        #[arg(long)]
        org: Option<String>,
    },
    /// Retire a resource: its group is emptied and kept, so the gidNumber is never reused.
    Retire {
        /// The resource's group name, <org>-<resource>.
        group: String,
    },
}

#[derive(Args)]
struct ResourceCreateArgs {
    /// The owning organisation's short name.
    #[arg(long)]
    org: String,
    /// Short name; the group is <org>-<short name>.
    #[arg(long)]
    short_name: String,
    /// Display name, e.g. "GPU cluster".
    #[arg(long)]
    name: String,
    /// One of resources.kinds (by default cluster, storage, device, service).
    #[arg(long)]
    kind: String,
    #[arg(long, default_value = "")]
    site: String,
    #[arg(long, default_value = "")]
    description: String,
    /// YYYY-MM-DD: access ends after this day.
    #[arg(long)]
    ends_on: Option<String>,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Create a client; prints `client_id=…` and `client_secret=…` (shown only now).
    ///
    /// With --org the client acts for that organisation and may carry an owner's
    /// permissions; without it, it is site-wide and may carry an administrator's.
    Create(ClientCreateArgs),
    /// List every client as tab-separated lines: id, organisation, name, scopes, created,
    /// last used, state.
    List,
    /// Revoke a client: its tokens stop working for Roster's API at once.
    Revoke {
        /// The client id (rc_…).
        id: String,
    },
}

#[derive(Args)]
struct ClientCreateArgs {
    /// The organisation's short name; leave out for a site-wide client.
    #[arg(long)]
    org: Option<String>,
    /// What the client is for.
    #[arg(long)]
    name: String,
    /// A permission the client carries (repeat for several), e.g. members.manage.
    #[arg(long = "scope", required = true, value_name = "PERM")]
    scopes: Vec<String>,
    /// Days until the client expires; leave out for none.
    #[arg(long)]
    expires_days: Option<u32>,
    /// A network the client may call from (repeat for several), e.g. 192.0.2.0/24.
    #[arg(long = "cidr", value_name = "CIDR")]
    networks: Vec<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; the old one stays published until the tokens it signed
    /// have expired. Every instance signs with the new key within a minute.
    Rotate,
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Apply every directory and SCIM job and send every mail that is due now, then exit;
    /// prints how many ran.
    ///
    /// Each instance already does this continuously unless server.outbox_worker (or
    /// server.mail_worker) is false; with it off everywhere, run this from cron. Safe beside
    /// running instances (jobs and mails are claimed with a lease).
    Run,
}

#[derive(Subcommand)]
enum LifecycleCommand {
    /// Run the lifecycle job once, now, and print what it did.
    ///
    /// Sends the reminders due (lifecycle.reminder_days before an end date), ends the
    /// memberships past their end date (memberUid removed from the group), and locks
    /// accounts without a membership for lifecycle.grace_days. Nothing is deleted. Each
    /// instance already runs this every lifecycle.interval_minutes; use this from cron
    /// when that is 0. Safe to run beside running instances.
    Run,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organisation; allocates its gidNumber and creates its posixGroup.
    ///
    /// Prints the new organisation's id as the last line of standard output.
    Create(OrgCreateArgs),
}

#[derive(Args)]
struct OrgCreateArgs {
    /// Display name, e.g. "Astrophysics Lab".
    #[arg(long)]
    name: String,
    /// POSIX group name: lowercase letters, digits, - and _, starting with a letter.
    #[arg(long)]
    short_name: String,
    /// Optional description.
    #[arg(long, default_value = "")]
    description: String,
}

#[derive(Subcommand)]
enum InviteCommand {
    /// Invite someone into an organisation: emails the invitation and prints the link.
    ///
    /// The link is printed as the last line of standard output. Inviting an email that
    /// already has a pending invitation to the organisation re-sends it with a new link.
    Create(InviteCreateArgs),
    /// List an organisation's invitations as tab-separated lines.
    List(InviteListArgs),
}

#[derive(Args)]
struct InviteCreateArgs {
    /// The organisation's short name.
    #[arg(long)]
    org: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    surname: String,
    #[arg(long)]
    given_name: Option<String>,
    /// member, manager or owner.
    #[arg(long, default_value = "member")]
    role: String,
    /// Last day of the membership, YYYY-MM-DD.
    #[arg(long)]
    ends_on: Option<String>,
}

#[derive(Args)]
struct InviteListArgs {
    /// The organisation's short name.
    #[arg(long)]
    org: String,
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
    /// A drift report that is not empty: exit code 3, so cron and monitoring notice.
    Drift(usize),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Settings first: they say how to log.
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    roster::telemetry::init("info", settings.log.format);
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
    match runtime.block_on(run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Drift(differences)) => {
            eprintln!("{differences} difference(s)");
            ExitCode::from(3)
        }
        Err(CliError::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, settings: Settings) -> Result<(), CliError> {
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            AppContext::connect(settings)
                .await
                .map_err(|error| CliError::Failed(error.to_string()))?;
            eprintln!("database is up to date");
            Ok(())
        }
        Command::Backup { file } => {
            let counts = roster::usecases::backup::backup(&settings.database, &file)
                .await
                .map_err(backup_error)?;
            eprintln!(
                "backup written to {}: {}",
                file.display(),
                describe(&counts)
            );
            Ok(())
        }
        Command::Restore { file } => {
            let counts = roster::usecases::backup::restore(&settings.database, &file)
                .await
                .map_err(backup_error)?;
            eprintln!(
                "restored {}: {}\nDirectory jobs that were pending run when the portal starts; \
                 run `roster reconcile` to list LDAP entries made after the backup.",
                file.display(),
                describe(&counts)
            );
            Ok(())
        }
        Command::Admin(AdminCommand::Invite(args)) => invite_admin(settings, args).await,
        Command::Org(OrgCommand::Create(args)) => create_org(settings, args).await,
        Command::Invite(InviteCommand::Create(args)) => invite_member(settings, args).await,
        Command::Invite(InviteCommand::List(args)) => list_invitations(settings, args).await,
        Command::Client(command) => client_command(settings, command).await,
        Command::Resource(command) => resource_command(settings, command).await,
        Command::Scim(ScimCommand::Reconcile(args)) => scim_reconcile(settings, args).await,
        Command::Adopt(AdoptCommand::Plan(args)) => adopt_plan(settings, args).await,
        Command::Adopt(AdoptCommand::Apply(args)) => adopt_apply(settings, args).await,
        Command::Adopt(AdoptCommand::Claim { org }) => {
            use roster::usecases::adoption::{ClaimScope, send_claims};
            let ctx = connect(settings).await?;
            let organisation = organisation_named(&ctx, &org).await?;
            let sent = send_claims(&ctx, ClaimScope::Organisation(&organisation.id))
                .await
                .map_err(|error| CliError::Failed(format!("{error:#}")))?;
            eprintln!("claim mails queued: {sent}");
            Ok(())
        }
        Command::Reconcile(args) => ldap_reconcile(settings, args).await,
        Command::Keys(KeysCommand::Rotate) => {
            let ctx = connect(settings).await?;
            let kid = roster::usecases::clients::rotate_keys(&ctx)
                .await
                .map_err(|error| CliError::Failed(error.to_string()))?;
            println!("{}", kid.unwrap_or_default());
            eprintln!(
                "new signing key added; the previous one stays published until its tokens expire"
            );
            Ok(())
        }
        Command::Outbox(OutboxCommand::Run) => {
            let ctx = connect(settings).await?;
            let mut ran = 0_u64;
            while roster::jobs::run_one_due(&ctx).await {
                ran += 1;
            }
            let scim_ran = roster::jobs::scim::run_all_due(&ctx).await;
            ran += u64::try_from(scim_ran).unwrap_or(0);
            let left = ctx
                .store
                .pending_jobs(1_000)
                .await
                .map_err(|error| CliError::Failed(error.to_string()))?;
            let failed = left.iter().filter(|job| job.failed).count();
            let mails_tried = roster::jobs::mail::send_all_due(&ctx).await;
            let mails = ctx
                .store
                .mail_counts()
                .await
                .map_err(|error| CliError::Failed(error.to_string()))?;
            println!(
                "jobs run: {ran}\njobs still waiting: {}\njobs failed: {failed}\n\
                 mails tried: {mails_tried}\nmails still queued: {}\nmails failed: {}",
                left.len() - failed,
                mails.queued,
                mails.failed
            );
            ctx.store.close().await;
            Ok(())
        }
        Command::Lifecycle(LifecycleCommand::Run) => {
            let ctx = connect(settings).await?;
            let report = roster::usecases::lifecycle::run_lifecycle(&ctx, roster::context::now())
                .await
                .map_err(|error| CliError::Failed(format!("{error:#}")))?;
            println!(
                "reminders sent: {}\nmemberships ended: {}\naccounts locked: {}",
                report.reminders, report.endings, report.locked
            );
            Ok(())
        }
    }
}

fn usage(error: roster::domain::FieldError) -> CliError {
    CliError::Usage(format!(
        "--{}: {}",
        error.field.replace('_', "-"),
        error.message
    ))
}

async fn connect(settings: Settings) -> Result<AppContext, CliError> {
    AppContext::connect(settings)
        .await
        .map_err(|error| CliError::Failed(error.to_string()))
}

async fn organisation_named(ctx: &AppContext, short_name: &str) -> Result<Organisation, CliError> {
    let short_name = ShortName::parse(short_name)
        .map_err(|error| CliError::Usage(format!("--org: {}", error.message)))?;
    ctx.store
        .organisation_by_short_name(&short_name)
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?
        .ok_or_else(|| CliError::Usage(format!("--org: no organisation is called {short_name}")))
}

async fn adopt_plan(settings: Settings, args: AdoptPlanArgs) -> Result<(), CliError> {
    use roster::domain::adoption::{PlanSource, read_owners, write_plan};
    use roster::usecases::adoption::{PlanRequest, make_plan};
    let owners = match &args.owners {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|error| {
                CliError::Usage(format!("--owners: cannot read {}: {error}", path.display()))
            })?;
            read_owners(&bytes).map_err(|error| CliError::Usage(format!("--owners: {error}")))?
        }
        None => std::collections::HashMap::new(),
    };
    let ctx = connect(settings).await?;
    let plan = make_plan(
        &ctx,
        &PlanRequest {
            owners,
            owner_attribute: args.owner_attribute,
            personal_groups: args.personal_groups,
        },
    )
    .await
    .map_err(|error| CliError::Failed(error.to_string()))?;
    let made_at = ctx.clock.now_rfc3339();
    let ldap = &ctx.settings.ldap;
    let text = write_plan(
        &plan,
        &PlanSource {
            made_at: &made_at,
            people_base: &ldap.people_dn,
            groups_base: &ldap.groups_dn,
        },
    );
    match &args.out {
        Some(path) => std::fs::write(path, text).map_err(|error| {
            CliError::Failed(format!("cannot write {}: {error}", path.display()))
        })?,
        None => print!("{text}"),
    }
    eprintln!(
        "{} entries read: {} people and {} organisations to adopt, {} personal organisations, \
         {} conflicts; {} adopted before",
        plan.entries_read,
        plan.people.len(),
        plan.organisations.len(),
        plan.personal.len(),
        plan.conflicts.len(),
        plan.already_adopted
    );
    Ok(())
}

async fn adopt_apply(settings: Settings, args: AdoptApplyArgs) -> Result<(), CliError> {
    use roster::usecases::adoption::{ApplyRequest, apply_plan};
    if args
        .max_change
        .is_some_and(|percent| !(0.0..=100.0).contains(&percent))
    {
        return Err(CliError::Usage(
            "--max-change: give a percentage from 0 to 100".into(),
        ));
    }
    let plan = std::fs::read_to_string(&args.plan).map_err(|error| {
        CliError::Usage(format!(
            "cannot read the plan {}: {error}",
            args.plan.display()
        ))
    })?;
    let ctx = connect(settings).await?;
    let report = apply_plan(
        &ctx,
        roster::usecases::Actor::CommandLine,
        &ApplyRequest {
            plan: &plan,
            owner_attribute: args.owner_attribute,
            max_change_percent: args.max_change,
        },
    )
    .await
    .map_err(|error| CliError::Failed(error.to_string()))?;
    for left_out in &report.left_out {
        println!("left out: {}: {}", left_out.dn, left_out.reason);
    }
    if args.send_claims
        && let Some(run_id) = &report.run_id
    {
        use roster::usecases::adoption::{ClaimScope, send_claims};
        let sent = send_claims(&ctx, ClaimScope::Run(run_id))
            .await
            .map_err(|error| CliError::Failed(format!("{error:#}")))?;
        eprintln!("claim mails queued: {sent}");
    }
    match &report.run_id {
        None => eprintln!("nothing to do: everything in the plan is adopted already"),
        Some(run_id) => eprintln!(
            "adopted {} people and {} organisations, made {} personal organisations \
             ({} memberships); run {run_id}{}",
            report.people,
            report.organisations,
            report.personal,
            report.memberships,
            if report.resumed { " (resumed)" } else { "" }
        ),
    }
    Ok(())
}

async fn scim_reconcile(settings: Settings, args: ScimReconcileArgs) -> Result<(), CliError> {
    use roster::usecases::provisioning::{drift_report, repair_drift};
    let ctx = connect(settings).await?;
    let failed = |error: &dyn std::fmt::Display| CliError::Failed(error.to_string());
    let report = drift_report(&ctx, &args.target)
        .await
        .map_err(|error| failed(&error))?;
    for item in &report.items {
        println!("{}", item.describe());
    }
    let (missing, extra, attributes, members) = report.counts();
    eprintln!(
        "{}: {} Users and {} Groups expected; {missing} missing, {extra} extra, \
         {attributes} attribute and {members} member mismatch(es)",
        args.target, report.users_expected, report.groups_expected
    );
    if report.items.is_empty() {
        return Ok(());
    }
    if !args.apply {
        return Err(CliError::Drift(report.items.len()));
    }
    let ran = repair_drift(
        &ctx,
        roster::usecases::Actor::CommandLine,
        None,
        &args.target,
        &report.items,
    )
    .await
    .map_err(|error| failed(&error))?;
    let after = drift_report(&ctx, &args.target)
        .await
        .map_err(|error| failed(&error))?;
    eprintln!(
        "repaired: {ran} job(s) run; {} difference(s) left",
        after.items.len()
    );
    for item in &after.items {
        println!("{}", item.describe());
    }
    if after.items.is_empty() {
        Ok(())
    } else {
        Err(CliError::Drift(after.items.len()))
    }
}

async fn ldap_reconcile(settings: Settings, args: ReconcileArgs) -> Result<(), CliError> {
    use roster::jobs::ldap_drift::DriftReport;
    use roster::usecases::reconcile::{
        ReconcileError, drift_report, organisation_report, repair_all,
    };
    let percent = args
        .max_change
        .unwrap_or(settings.reconcile.max_change_percent);
    let ctx = connect(settings).await?;
    let failed = |error: ReconcileError| CliError::Failed(error.to_string());
    let organisation = match &args.org {
        Some(short_name) => Some(organisation_named(&ctx, short_name).await?),
        None => None,
    };
    let make_report = async || match &organisation {
        Some(organisation) => organisation_report(&ctx, organisation).await,
        None => drift_report(&ctx).await,
    };
    let print = |report: &DriftReport| {
        for item in &report.items {
            println!("{}", item.describe());
        }
        let counts = report.counts();
        println!(
            "{} difference(s) among {} entries: {} missing, {} attribute, {} member mismatch(es), {} unknown",
            report.items.len(),
            report.entries,
            counts.missing,
            counts.attributes,
            counts.members,
            counts.unknown
        );
    };
    let report = make_report().await.map_err(failed)?;
    print(&report);
    if report.items.is_empty() {
        return Ok(());
    }
    if !args.apply {
        return Err(CliError::Drift(report.items.len()));
    }
    let outcome = repair_all(
        &ctx,
        roster::usecases::Actor::CommandLine,
        None,
        &report,
        percent,
    )
    .await
    .map_err(failed)?;
    for failure in &outcome.failed {
        eprintln!("not repaired: {failure}");
    }
    let after = make_report().await.map_err(failed)?;
    println!("repaired: {} item(s); after the repair:", outcome.repaired);
    print(&after);
    if after.items.is_empty() {
        Ok(())
    } else {
        Err(CliError::Drift(after.items.len()))
    }
}

async fn resource_command(settings: Settings, command: ResourceCommand) -> Result<(), CliError> {
    use roster::domain::{EndDate, ResourceKind, Site};
    use roster::store::resources::ResourceChange;
    use roster::usecases::resources::{
        NewResourceRequest, ResourceActor, ResourceError, change_resource, create_resource,
    };
    let ctx = connect(settings).await?;
    let failed = |error: &dyn std::fmt::Display| CliError::Failed(error.to_string());
    let actor = ResourceActor {
        actor: roster::usecases::Actor::CommandLine,
        client_ip: None,
        site_admin: true,
    };
    match command {
        ResourceCommand::Create(args) => {
            let organisation = organisation_named(&ctx, &args.org).await?;
            let request = NewResourceRequest {
                short_name: ShortName::parse(&args.short_name).map_err(usage)?,
                name: OrganisationName::parse(&args.name).map_err(usage)?,
                kind: ResourceKind::parse(&args.kind, &ctx.settings.resources.kinds)
                    .map_err(usage)?,
                site: Site::parse(&args.site).map_err(usage)?,
                description: Description::parse(&args.description).map_err(usage)?,
                ends_on: match &args.ends_on {
                    Some(date) => {
                        EndDate::parse_optional(date, roster::clock::today()).map_err(usage)?
                    }
                    None => None,
                },
            };
            let resource = create_resource(&ctx, &organisation, actor, request)
                .await
                .map_err(|error| match error {
                    ResourceError::Invalid(_) | ResourceError::NameTaken(_) => {
                        CliError::Usage(format!("--short-name: {error}"))
                    }
                    other => failed(&other),
                })?;
            eprintln!(
                "Created {} with gidNumber {}; its LDAP group is {}.",
                resource.name, resource.gid_number, resource.group_name
            );
            println!("{}", resource.id);
        }
        ResourceCommand::List { org } => {
            let resources = match org {
                Some(org) => {
                    let organisation = organisation_named(&ctx, &org).await?;
                    ctx.store.resources_of(&organisation.id).await
                }
                None => ctx.store.all_resources().await,
            }
            .map_err(|error| failed(&error))?;
            println!("group\tkind\tstatus\tsite\tends_on\tname");
            for resource in resources {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    resource.group_name,
                    resource.kind,
                    resource.status.as_str(),
                    resource.site,
                    resource.ends_on.as_deref().unwrap_or(""),
                    resource.name
                );
            }
        }
        ResourceCommand::Retire { group } => {
            let resource = ctx
                .store
                .resource_by_group_name(&group)
                .await
                .map_err(|error| failed(&error))?
                .ok_or_else(|| CliError::Usage(format!("no resource has the group {group}")))?;
            change_resource(
                &ctx,
                &resource,
                resource.version,
                actor,
                &[ResourceChange::Retire],
            )
            .await
            .map_err(|error| failed(&error))?;
            eprintln!("Retired {group}: its group is emptied and kept.");
        }
    }
    ctx.store.close().await;
    Ok(())
}

async fn client_command(settings: Settings, command: ClientCommand) -> Result<(), CliError> {
    use roster::domain::{AllowedNetworks, ClientName, Scopes};
    use roster::usecases::clients::{
        ClientCreator, ClientError, ClientRequest, create_client, revoke_client,
    };
    let failed = |error: roster::store::StoreError| CliError::Failed(error.to_string());
    match command {
        ClientCommand::Create(args) => {
            let name = ClientName::parse(&args.name).map_err(usage)?;
            let scopes = Scopes::from_names(
                args.scopes
                    .iter()
                    .flat_map(|scope| scope.split(|c: char| c == ',' || c.is_whitespace()))
                    .filter(|scope| !scope.is_empty()),
            )
            .map_err(usage)?;
            let networks = AllowedNetworks::parse(&args.networks.join(" ")).map_err(usage)?;
            let ctx = connect(settings).await?;
            let organisation = match &args.org {
                Some(short_name) => Some(organisation_named(&ctx, short_name).await?),
                None => None,
            };
            let expires_at = args
                .expires_days
                .map(|days| ctx.clock.now() + i64::from(days) * 86_400);
            let created = create_client(
                &ctx,
                ClientCreator::CommandLine,
                ClientRequest {
                    organisation: organisation.as_ref(),
                    name,
                    scopes,
                    networks,
                    expires_at,
                },
            )
            .await
            .map_err(|error| match error {
                ClientError::Store(error) => failed(error),
                ClientError::Random(error) => CliError::Failed(error),
                other => CliError::Usage(format!("--scope: {other}")),
            })?;
            println!("client_id={}", created.id);
            println!("client_secret={}", created.secret.expose());
            eprintln!("keep the secret safe: it is shown only now");
            Ok(())
        }
        ClientCommand::List => {
            let ctx = connect(settings).await?;
            let now = ctx.clock.now();
            for client in ctx.store.clients(None).await.map_err(failed)? {
                let state = client.state(now);
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    client.id,
                    client
                        .organisation_short_name
                        .as_deref()
                        .unwrap_or("site-wide"),
                    client.name,
                    client.scopes.to_scope_string(),
                    format_date(client.created_at),
                    client
                        .last_used_at
                        .map(format_date)
                        .unwrap_or_else(|| "never".into()),
                    state
                );
            }
            Ok(())
        }
        ClientCommand::Revoke { id } => {
            let ctx = connect(settings).await?;
            let revoked =
                revoke_client(&ctx, roster::usecases::Actor::CommandLine, None, &id, None)
                    .await
                    .map_err(failed)?;
            if revoked {
                eprintln!("revoked {id}");
                Ok(())
            } else {
                Err(CliError::Usage(format!("no active client has the id {id}")))
            }
        }
    }
}

async fn create_org(settings: Settings, args: OrgCreateArgs) -> Result<(), CliError> {
    let name = OrganisationName::parse(&args.name).map_err(usage)?;
    let short_name = ShortName::parse(&args.short_name).map_err(usage)?;
    let description = Description::parse(&args.description).map_err(usage)?;
    let ctx = connect(settings).await?;
    let organisation = create_organisation(
        &ctx,
        NewOrganisationRequest {
            name,
            short_name,
            description,
            actor_id: None,
            client_ip: None,
        },
    )
    .await
    .map_err(|error| match error {
        OrganisationError::ShortNameTaken(_) => CliError::Usage(format!("--short-name: {error}")),
        other => CliError::Failed(other.to_string()),
    })?;
    let pending = ctx
        .store
        .has_pending_job(JobKind::SyncGroup, &organisation.id)
        .await
        .unwrap_or(true);
    eprintln!(
        "Created {} ({}) with gidNumber {}; its LDAP group is {}.",
        organisation.name,
        organisation.short_name,
        organisation.gid_number,
        if pending {
            "pending (the server's worker applies it when LDAP answers)"
        } else {
            "in place"
        }
    );
    ctx.store.close().await;
    println!("{}", organisation.id);
    Ok(())
}

async fn invite_member(settings: Settings, args: InviteCreateArgs) -> Result<(), CliError> {
    let email = Email::parse(&args.email).map_err(usage)?;
    let surname = PersonName::parse("surname", &args.surname).map_err(usage)?;
    let given_name =
        PersonName::parse_optional("given_name", args.given_name.as_deref().unwrap_or(""))
            .map_err(usage)?;
    let role = Role::parse(&args.role)
        .filter(|role| Role::ORGANISATION_ROLES.contains(role))
        .ok_or_else(|| CliError::Usage("--role: use member, manager or owner".into()))?;
    let ends_on = EndDate::parse_optional(
        args.ends_on.as_deref().unwrap_or(""),
        roster::context::today(),
    )
    .map_err(usage)?;
    let ctx = connect(settings).await?;
    let organisation = organisation_named(&ctx, &args.org).await?;
    let created = create_invitation(
        &ctx,
        InvitationRequest {
            email: email.clone(),
            surname,
            given_name,
            role,
            organisation_id: Some(&organisation.id),
            organisation_name: Some(&organisation.name),
            inviter: roster::usecases::Actor::CommandLine,
            may_grant_manager: true,
            client_ip: None,
            ends_on,
            message: None,
        },
    )
    .await
    .map_err(|error| CliError::Failed(error.to_string()))?;
    if created.resent {
        eprintln!(
            "{email} already had a pending invitation: it was re-sent with a new link; the old one no longer works."
        );
    }
    report_mail(&ctx, &email, &created).await;
    ctx.store.close().await;
    println!("{}", created.link);
    Ok(())
}

async fn list_invitations(settings: Settings, args: InviteListArgs) -> Result<(), CliError> {
    let ctx = connect(settings).await?;
    let organisation = organisation_named(&ctx, &args.org).await?;
    let invitations = ctx
        .store
        .invitations_of_organisation(&organisation.id)
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    let at = roster::context::now();
    println!("state\temail\tsurname\trole\tsent\texpires\tinvited_by");
    for listed in invitations {
        let invitation = listed.invitation;
        let state = InvitationState::of(invitation.status, invitation.expires_at, at).label();
        println!(
            "{state}\t{}\t{}\t{}\t{}\t{}\t{}",
            invitation.email,
            invitation.surname,
            invitation.role.as_str(),
            format_date(invitation.sent_at.unwrap_or(invitation.created_at)),
            format_date(invitation.expires_at),
            listed.invited_by_name.as_deref().unwrap_or("command line"),
        );
    }
    ctx.store.close().await;
    Ok(())
}

/// Sends the invitation's mail now (only it: the rest of the outbox is the workers'), and
/// says how it went.
async fn report_mail(ctx: &AppContext, email: &Email, created: &CreatedInvitation) {
    roster::jobs::mail::send_for_invitation(ctx, &created.id).await;
    let delivery = ctx.store.invitation_delivery(&created.id).await;
    match delivery {
        Ok(Some(delivery)) if delivery.state == Delivery::Sent => {
            eprintln!("Invitation emailed to {email}.");
        }
        Ok(Some(delivery)) if delivery.state == Delivery::Failed => eprintln!(
            "warning: the mail server refused the invitation email to {email} ({}); \
             give them the link below another way.",
            delivery.reason.unwrap_or_default()
        ),
        _ => eprintln!(
            "warning: the invitation email to {email} could not be sent yet; it waits in the \
             mail outbox and a running Roster sends it when the mail server is back. \
             You may also give them the link below another way."
        ),
    }
    eprintln!(
        "The link works once and expires on {}.",
        format_date(created.expires_at)
    );
}

fn backup_error(error: roster::usecases::backup::BackupError) -> CliError {
    match error {
        roster::usecases::backup::BackupError::Refused(message) => CliError::Usage(message),
        other => CliError::Failed(other.to_string()),
    }
}

fn describe(counts: &roster::store::backup::Counts) -> String {
    format!(
        "{} people ({} with an account), {} organisations, {} memberships, {} directory jobs pending",
        counts.people,
        counts.accounts,
        counts.organisations,
        counts.memberships,
        counts.pending_jobs
    )
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    let listen = settings.server.listen.clone();
    let public_url = settings.server.public_url.clone();
    let app = Application::build(settings)
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    // Beside serving, so a slow LDAP server does not hold up /healthz.
    tokio::spawn(roster::startup::check_services(app.context().clone()));
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
            inviter: roster::usecases::Actor::CommandLine,
            may_grant_manager: true,
            client_ip: None,
            ends_on: None,
            message: None,
        },
    )
    .await
    .map_err(|error| CliError::Failed(error.to_string()))?;
    report_mail(&ctx, &email, &created).await;
    ctx.store.close().await;
    println!("{}", created.link);
    Ok(())
}
