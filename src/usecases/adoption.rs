//! Adopting an existing directory: `roster adopt plan` reads it and says what would be
//! adopted and what conflicts; `roster adopt apply` records what a reviewed plan still
//! says, resumably, within a change threshold, audited as one run. Adopted entries are
//! not rewritten: Roster reserves their names and numbers and manages them from the first
//! change made through it.

use std::collections::{HashMap, HashSet};

use crate::context::AppContext;
use crate::directory::DirectoryError;
use crate::domain::adoption::{
    AdoptionPlan, Conflict, PlanFileError, PlanOptions, plan_adoption, read_plan,
};
use crate::domain::{OrganisationName, Role, sha256_hex};
use crate::store::StoreError;
use crate::store::adoption::AdoptedOrganisation;
use crate::store::audit::AuditEvent;
use crate::usecases::Actor;
use crate::usecases::ids::{IdError, WhenLdapDown, allocate_gid};

/// People recorded per transaction: a crash loses at most one batch's work, which the
/// next run of the same plan does again.
const PEOPLE_PER_TRANSACTION: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum AdoptionError {
    #[error("the directory cannot be read: {0}")]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    #[error(
        "refused: this run would adopt or create {changes} of {entries} entries ({percent:.1} %), more than --max-change {limit} %; nothing was written"
    )]
    TooLarge {
        changes: u64,
        entries: u64,
        percent: f64,
        limit: f64,
    },
    #[error("no gidNumber for a personal organisation: {0}")]
    Ids(#[from] IdError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to read the directory's groups.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// Group cn → owner username (`--owners`), before the owner attribute.
    pub owners: HashMap<String, String>,
    /// The group attribute naming its owner (`owner`, `manager`).
    pub owner_attribute: String,
    pub personal_groups: bool,
}

/// Reads the directory and the portal; writes nothing.
pub async fn make_plan(
    ctx: &AppContext,
    request: &PlanRequest,
) -> Result<AdoptionPlan, AdoptionError> {
    let people = ctx.directory.existing_people().await?;
    let groups = ctx
        .directory
        .existing_groups(&request.owner_attribute)
        .await?;
    let facts = ctx.store.adoption_facts().await?;
    Ok(plan_adoption(
        &people,
        &groups,
        &facts,
        &PlanOptions {
            owners: request.owners.clone(),
            personal_groups: request.personal_groups,
        },
    ))
}

pub struct ApplyRequest<'a> {
    /// The plan file's text, as reviewed (and perhaps edited).
    pub plan: &'a str,
    pub owner_attribute: String,
    /// Refuse when the run would adopt or create more than this share of the entries read.
    pub max_change_percent: Option<f64>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// `None` when there was nothing to do.
    pub run_id: Option<String>,
    /// This run finished an interrupted run of the same plan.
    pub resumed: bool,
    pub people: u64,
    pub organisations: u64,
    pub personal: u64,
    pub memberships: u64,
    /// Lines of the plan that were not applied, and why.
    pub left_out: Vec<Conflict>,
}

/// The work a plan file still stands for: its lines that match a plan made now.
struct Work {
    plan: AdoptionPlan,
    left_out: Vec<Conflict>,
}

fn still_valid(file: AdoptionPlan, now: AdoptionPlan) -> Work {
    let reason_of: HashMap<&str, &str> = now
        .conflicts
        .iter()
        .map(|conflict| (conflict.dn.as_str(), conflict.reason.as_str()))
        .collect();
    let mut left_out = Vec::new();
    let mut leave_out = |dn: &str, fallback: &str| {
        left_out.push(Conflict {
            dn: dn.to_string(),
            reason: reason_of
                .get(dn)
                .map_or_else(|| fallback.to_string(), |reason| (*reason).to_string()),
        });
    };
    let people_now: HashMap<&str, _> = now
        .people
        .iter()
        .map(|person| (person.uid.as_str(), person))
        .collect();
    let mut people = Vec::new();
    for person in file.people {
        match people_now.get(person.uid.as_str()) {
            Some(current) if **current == person => people.push(person),
            Some(_) => leave_out(
                &person.dn,
                "the line differs from the directory's entry: plan again",
            ),
            // Adopted since the plan was made (an earlier run): nothing to do.
            None if !reason_of.contains_key(person.dn.as_str()) => {}
            None => leave_out(&person.dn, ""),
        }
    }
    let adopted_now: HashSet<&str> = people.iter().map(|person| person.uid.as_str()).collect();
    let organisations_now: HashMap<&str, _> = now
        .organisations
        .iter()
        .map(|organisation| (organisation.cn.as_str(), organisation))
        .collect();
    let mut organisations = Vec::new();
    for mut organisation in file.organisations {
        let Some(current) = organisations_now.get(organisation.cn.as_str()) else {
            if reason_of.contains_key(organisation.dn.as_str()) {
                leave_out(&organisation.dn, "");
            }
            continue;
        };
        if current.gid_number != organisation.gid_number || current.dn != organisation.dn {
            leave_out(
                &organisation.dn,
                "the line differs from the directory's entry: plan again",
            );
            continue;
        }
        if OrganisationName::parse(&organisation.name).is_err() {
            leave_out(
                &organisation.dn,
                "the name must be one line of at most 200 characters",
            );
            continue;
        }
        // Members (and the owner) adopted now or before; someone left out of the plan is
        // left out of its organisations too.
        let kept = |uid: &String| {
            adopted_now.contains(uid.as_str()) || !people_now.contains_key(uid.as_str())
        };
        if !kept(&current.owner) {
            leave_out(
                &organisation.dn,
                &format!("the owner {} is left out of this plan", current.owner),
            );
            continue;
        }
        organisation.owner = current.owner.clone();
        organisation.members = current
            .members
            .iter()
            .filter(|uid| kept(uid))
            .cloned()
            .collect();
        organisations.push(organisation);
    }
    let personal_now: HashMap<&str, Option<i64>> = now
        .personal
        .iter()
        .map(|personal| (personal.uid.as_str(), personal.gid_number))
        .collect();
    let personal = file
        .personal
        .into_iter()
        .filter(|personal| {
            personal_now.get(personal.uid.as_str()) == Some(&personal.gid_number)
                && (adopted_now.contains(personal.uid.as_str())
                    || !people_now.contains_key(personal.uid.as_str()))
        })
        .collect();
    Work {
        plan: AdoptionPlan {
            people,
            organisations,
            personal,
            conflicts: Vec::new(),
            entries_read: now.entries_read,
            already_adopted: now.already_adopted,
        },
        left_out,
    }
}

/// Carries out what the plan still says. Idempotent: a second run finds everything
/// adopted and does nothing; a run interrupted is resumed by the next run of the plan.
pub async fn apply_plan(
    ctx: &AppContext,
    actor: Actor<'_>,
    request: &ApplyRequest<'_>,
) -> Result<ApplyReport, AdoptionError> {
    let file = read_plan(request.plan)?;
    // The file's owners stand (a reviewer may change them); the directory decides the rest.
    let owners = file
        .organisations
        .iter()
        .map(|organisation| (organisation.cn.clone(), organisation.owner.clone()))
        .collect();
    let now_plan = make_plan(
        ctx,
        &PlanRequest {
            owners,
            owner_attribute: request.owner_attribute.clone(),
            personal_groups: true,
        },
    )
    .await?;
    let Work { plan, left_out } = still_valid(file, now_plan);
    let percent = plan.change_percent();
    if let Some(limit) = request.max_change_percent
        && percent > limit
    {
        return Err(AdoptionError::TooLarge {
            changes: plan.changes(),
            entries: plan.entries_read,
            percent,
            limit,
        });
    }
    let mut report = ApplyReport {
        left_out,
        ..ApplyReport::default()
    };
    if plan.people.is_empty() && plan.organisations.is_empty() && plan.personal.is_empty() {
        return Ok(report);
    }
    let actor_name = actor.audit_id().unwrap_or("command line");
    let (run_id, resumed) = ctx
        .store
        .adoption_run(
            &sha256_hex(request.plan.as_bytes()),
            actor_name,
            ctx.clock.now(),
        )
        .await?;
    report.resumed = resumed;
    for chunk in plan.people.chunks(PEOPLE_PER_TRANSACTION) {
        report.people += ctx
            .store
            .adopt_people(&run_id, chunk, ctx.clock.now())
            .await?;
    }
    let ids = ctx.store.person_ids_by_username().await?;
    let id_of = |uid: &str| ids.get(uid).map(String::as_str);
    for organisation in &plan.organisations {
        let members: Vec<(&str, Role)> = organisation
            .members
            .iter()
            .filter_map(|uid| {
                let role = if *uid == organisation.owner {
                    Role::Owner
                } else {
                    Role::Member
                };
                Some((id_of(uid)?, role))
            })
            .collect();
        let count = u64::try_from(members.len()).unwrap_or(0);
        let recorded = ctx
            .store
            .adopt_organisation(
                &run_id,
                AdoptedOrganisation {
                    short_name: &organisation.cn,
                    name: &organisation.name,
                    gid_number: organisation.gid_number,
                    members,
                    name_held_by: None,
                    new_group: None,
                },
                ctx.clock.now(),
            )
            .await?;
        if let Some(receipt) = recorded {
            crate::jobs::apply(ctx, receipt).await;
            report.organisations += 1;
            report.memberships += count;
        }
    }
    for personal in &plan.personal {
        let Some(person_id) = id_of(&personal.uid) else {
            continue;
        };
        let gid_number = match personal.gid_number {
            Some(gid) => gid,
            None => allocate_gid(ctx, person_id, None, WhenLdapDown::Refuse).await?,
        };
        let details = format!(
            "made the personal organisation {} (gidNumber {gid_number}) for an adopted person, adoption run {run_id}",
            personal.uid
        );
        let recorded = ctx
            .store
            .adopt_organisation(
                &run_id,
                AdoptedOrganisation {
                    short_name: &personal.uid,
                    name: &personal.uid,
                    gid_number,
                    members: vec![(person_id, Role::Owner)],
                    name_held_by: Some(person_id),
                    // A private group exists already; otherwise the group is new.
                    new_group: personal.gid_number.is_none().then(|| AuditEvent {
                        actor_id: actor.audit_id(),
                        action: "organisation.created",
                        details: details.clone(),
                        ..AuditEvent::default()
                    }),
                },
                ctx.clock.now(),
            )
            .await?;
        if let Some(receipt) = recorded {
            crate::jobs::apply(ctx, receipt).await;
            report.personal += 1;
            report.memberships += 1;
        }
    }
    let totals = ctx.store.adoption_run_totals(&run_id).await?;
    ctx.store
        .finish_adoption_run(
            &run_id,
            totals,
            AuditEvent {
                actor_id: actor.audit_id(),
                action: "adoption.applied",
                details: format!(
                    "adopted {} people and {} organisations (personal ones included) with {} memberships, adoption run {run_id}{}",
                    totals.0,
                    totals.1,
                    totals.2,
                    if resumed { ", resumed after an interruption" } else { "" }
                ),
                ..AuditEvent::default()
            },
            ctx.clock.now(),
        )
        .await?;
    report.run_id = Some(run_id);
    Ok(report)
}

/// Which adopted people to send a claim mail to.
pub enum ClaimScope<'a> {
    /// The members of one organisation.
    Organisation(&'a str),
    /// Everyone a run adopted.
    Run(&'a str),
    /// One person (the PI's "resend"), if they have not claimed it yet.
    Person(&'a str),
}

/// Mails each unclaimed adopted person of `scope` a single-use link to choose the password
/// that claims their account (it reaches their LDAP entry). Returns how many were mailed.
pub async fn send_claims(ctx: &AppContext, scope: ClaimScope<'_>) -> anyhow::Result<usize> {
    let people = match scope {
        ClaimScope::Organisation(id) => ctx.store.unclaimed_adopted(Some(id), None, None).await?,
        ClaimScope::Run(id) => ctx.store.unclaimed_adopted(None, Some(id), None).await?,
        ClaimScope::Person(id) => ctx.store.unclaimed_adopted(None, None, Some(id)).await?,
    };
    let now = ctx.clock.now();
    let expires_at = now + i64::from(ctx.settings.security.invitation_ttl_days) * 86_400;
    let mut sent = 0;
    for person in &people {
        let Some(username) = person.username.clone() else {
            continue;
        };
        let token = crate::entropy::secret_token()?;
        let mail = crate::mail::ClaimMail {
            greeting_name: person.display_name(),
            username,
            email: person.email.clone(),
            link: ctx.public_link(&format!("/password-reset/{}", token.expose())),
            expires: crate::usecases::invitations::format_date(expires_at),
        };
        let mail = crate::usecases::queued_mail(&person.email, mail.render()?);
        if ctx
            .store
            .create_password_reset(
                &person.id,
                &token.hash(),
                expires_at,
                None,
                (mail, None),
                now,
            )
            .await?
        {
            sent += 1;
        }
    }
    ctx.mail_signal.notify_one();
    Ok(sent)
}
