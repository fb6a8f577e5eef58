//! Inviting many people at once (a spreadsheet on the Invitations page, or the API's batch):
//! one plan that says what each row will do, shown as the preview or answered as a dry run,
//! and one confirmation that does it all in one transaction under the batch's id, so a
//! repeat does nothing twice. Mails go through the outbox, so the page answers at once.

use std::collections::HashMap;

use crate::context::AppContext;
use crate::directory::{DirectoryError, DirectoryPerson, PersonKey};
use crate::domain::{
    EndDate, FieldError, InvitationMessage, Invitee, PersonName, Role, SheetRow, TokenHash,
};
use crate::mail::MailError;
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::invitation_batches::{
    BatchApplied, BatchHeader, BatchItem, BatchOp, ItemResult, StoredBatch,
};
use crate::store::invitations::NewInvitation;
use crate::store::mail_outbox::QueuedMail;
use crate::store::memberships::DirectoryPersonRef;
use crate::store::organisations::Organisation;
use crate::usecases::invitations::{InvitationLetter, invitation_mail, inviter_name};
use crate::usecases::organisations::OrgActor;

/// What a row will do.
#[derive(Debug, Clone)]
pub enum Plan {
    /// A new invitation, by email.
    Invite { invitee: Invitee, role: Role },
    /// A pending invitation for this email exists: it gets a new link.
    Resend {
        invitation_id: String,
        invitee: Invitee,
        role: Role,
        /// The message it was first sent with, which the new mail repeats.
        message: Option<String>,
    },
    /// Already a current member: nothing to do.
    AlreadyMember,
    /// In the directory already: added directly, as the directory search does.
    Add {
        person: DirectoryPerson,
        invitee: Invitee,
        role: Role,
    },
    /// The row cannot be done, and why.
    Refused(FieldError),
}

impl Plan {
    /// The preview's and the dry run's word for it.
    pub const fn outcome(&self) -> &'static str {
        match self {
            Plan::Invite { .. } => "create",
            Plan::Resend { .. } => "resend",
            Plan::AlreadyMember => "skip",
            Plan::Add { .. } => "add",
            Plan::Refused(_) => "error",
        }
    }

    pub fn label(&self) -> String {
        match self {
            Plan::Invite { role, .. } => format!("New invitation as {}", role_word(*role)),
            Plan::Resend { .. } => "Already invited: the invitation will be resent".into(),
            Plan::AlreadyMember => "Already a member: skipped".into(),
            Plan::Add { person, role, .. } => format!(
                "In the directory as {}: will be added directly as {}",
                person.uid,
                role_word(*role)
            ),
            Plan::Refused(error) => error.message.clone(),
        }
    }
}

fn role_word(role: Role) -> String {
    role.label().to_lowercase()
}

/// A row with its plan.
#[derive(Debug, Clone)]
pub struct PlannedRow {
    /// The line in the file (or the item's index in the API's list).
    pub line: u64,
    pub name: String,
    pub email: String,
    pub plan: Plan,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The directory must be searched to know who is in it already.
    #[error("the directory cannot be searched right now: {0}")]
    DirectoryDown(#[from] DirectoryError),
    /// `mode=atomic` and some rows cannot be done: nothing was written.
    #[error("some rows cannot be done; nothing was written")]
    Refused(Vec<PlannedRow>),
    /// Someone joined or was invited meanwhile; nothing was written.
    #[error("the organisation changed while the batch was written; nothing was written")]
    Changed,
    #[error("could not generate a random token: {0}")]
    Random(String),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::store::invitation_batches::BatchError> for BatchError {
    fn from(error: crate::store::invitation_batches::BatchError) -> Self {
        match error {
            crate::store::invitation_batches::BatchError::Changed => Self::Changed,
            crate::store::invitation_batches::BatchError::Store(error) => Self::Store(error),
        }
    }
}

/// Says what each row will do; writes nothing.
pub async fn plan_batch(
    ctx: &AppContext,
    organisation: &Organisation,
    actor: &OrgActor<'_>,
    rows: Vec<SheetRow>,
) -> Result<Vec<PlannedRow>, BatchError> {
    let grantable = actor.grantable_roles();
    let emails: Vec<String> = rows
        .iter()
        .filter_map(|row| row.invitee.as_ref().ok())
        .map(|invitee| invitee.email.normalized())
        .collect();
    let email_refs: Vec<&str> = emails.iter().map(String::as_str).collect();
    let today = ctx.clock.today_iso();
    let members: HashMap<String, ()> = {
        let people = ctx.store.people_with(&email_refs, &[]).await?;
        let held = ctx.store.memberships_by_person(&organisation.id).await?;
        people
            .into_iter()
            .filter(|person| {
                held.get(&person.id).is_some_and(|membership| {
                    membership
                        .ends_on
                        .as_deref()
                        .is_none_or(|ends_on| ends_on >= today.as_str())
                })
            })
            .map(|person| (person.email.to_lowercase(), ()))
            .collect()
    };
    let pending = ctx.store.pending_invitations_to(&organisation.id).await?;
    let in_directory: HashMap<String, DirectoryPerson> = ctx
        .directory
        .people_with(PersonKey::Mail, &email_refs)
        .await?
        .into_iter()
        .filter_map(|person| Some((person.email.clone()?.to_lowercase(), person)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let plan = match row.invitee {
                Err(error) => Plan::Refused(error),
                Ok(invitee) => {
                    let role = invitee.role.unwrap_or(Role::Member);
                    let email = invitee.email.normalized();
                    if !grantable.contains(&role) {
                        Plan::Refused(FieldError::new(
                            "role",
                            format!(
                                "You may not invite someone as {}: only the organisation's owner can invite owners and managers.",
                                role_word(role)
                            ),
                        ))
                    } else if members.contains_key(&email) {
                        Plan::AlreadyMember
                    } else if let Some(invitation) = pending.get(&email) {
                        Plan::Resend {
                            invitation_id: invitation.id.clone(),
                            invitee,
                            role,
                            message: invitation.message.clone(),
                        }
                    } else if let Some(person) = in_directory.get(&email) {
                        Plan::Add {
                            person: person.clone(),
                            invitee,
                            role,
                        }
                    } else {
                        Plan::Invite { invitee, role }
                    }
                }
            };
            PlannedRow {
                line: row.line,
                name: row.name,
                email: row.email,
                plan,
            }
        })
        .collect())
}

/// How a batch with refused rows is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// The rows that can be done are done; the others are reported.
    BestEffort,
    /// Any refused row means nothing is done.
    Atomic,
}

/// A batch's identity: its id, and for the API the key a retry repeats.
pub struct BatchIdentity<'a> {
    pub id: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: Option<&'a str>,
}

/// What a confirmation did.
pub struct ConfirmedBatch {
    pub batch: StoredBatch,
    /// False when this was a repeat: the first confirmation's results, nothing done now.
    pub fresh: bool,
}

/// Does what the plan says, all in one transaction with one audit event per row and one
/// for the batch. A repeat with the same id (or `Idempotency-Key`) does nothing and
/// returns the first results. `message` goes with every new invitation; a resent one
/// repeats the message it was first sent with, as a single resend does.
pub async fn confirm_batch(
    ctx: &AppContext,
    organisation: &Organisation,
    actor: &OrgActor<'_>,
    identity: BatchIdentity<'_>,
    planned: Vec<PlannedRow>,
    mode: BatchMode,
    message: Option<&InvitationMessage>,
) -> Result<ConfirmedBatch, BatchError> {
    if mode == BatchMode::Atomic
        && planned
            .iter()
            .any(|row| matches!(row.plan, Plan::Refused(_)))
    {
        return Err(BatchError::Refused(planned));
    }
    let now = ctx.clock.now();
    // A key older than a day no longer replays: forget it, so it starts a new batch.
    if let Some(key) = identity.idempotency_key {
        ctx.store
            .expire_idempotency_key(actor.actor.client_id(), key, now - 86_400)
            .await?;
    }
    let expires_at = now + i64::from(ctx.settings.security.invitation_ttl_days) * 86_400;
    let actor_id = actor.actor.audit_id();
    let person_id = actor.actor.person_id();
    let client_id = actor.actor.client_id();
    let inviter_name = inviter_name(ctx, person_id).await?;
    // Per step: the new link's hash and its mail (none for an addition).
    let mut hashes: Vec<Option<TokenHash>> = Vec::new();
    let mut mails: Vec<Option<QueuedMail>> = Vec::new();
    let mut steps = Vec::new();
    let mut unwritten = Vec::new();
    for row in &planned {
        let (invitee, role) = match &row.plan {
            Plan::Invite { invitee, role }
            | Plan::Resend { invitee, role, .. }
            | Plan::Add { invitee, role, .. } => (invitee, *role),
            Plan::AlreadyMember => {
                unwritten.push(ItemResult {
                    index: row.line,
                    email: row.email.clone(),
                    outcome: "skipped".into(),
                    id: None,
                    field: None,
                    message: Some("already a member".into()),
                });
                continue;
            }
            Plan::Refused(error) => {
                unwritten.push(ItemResult {
                    index: row.line,
                    email: row.email.clone(),
                    outcome: "error".into(),
                    id: None,
                    field: Some(error.field.into()),
                    message: Some(error.message.clone()),
                });
                continue;
            }
        };
        if let Plan::Add { .. } = row.plan {
            hashes.push(None);
            mails.push(None);
        } else {
            let token = crate::entropy::secret_token()
                .map_err(|error| BatchError::Random(error.to_string()))?;
            let greeting = crate::domain::full_name(
                invitee.given_name.as_ref().map(PersonName::as_str),
                invitee.surname.as_str(),
            );
            let (_link, mail) = invitation_mail(
                ctx,
                &token,
                InvitationLetter {
                    to: invitee.email.as_str(),
                    greeting_name: greeting,
                    organisation_name: Some(&organisation.name),
                    inviter_name: inviter_name.as_deref(),
                    role,
                    expires_at,
                    message: match &row.plan {
                        Plan::Resend { message, .. } => message.as_deref(),
                        _ => message.map(InvitationMessage::as_str),
                    },
                },
            )?;
            hashes.push(Some(token.hash()));
            mails.push(Some(QueuedMail {
                batch_id: Some(identity.id.to_string()),
                ..mail
            }));
        }
        steps.push((row, invitee, role));
    }
    let ends_on: Vec<Option<String>> = steps
        .iter()
        .map(|(_, invitee, _)| invitee.ends_on.map(EndDate::to_iso))
        .collect();
    let emails: Vec<crate::domain::Email> = steps
        .iter()
        .map(|(row, invitee, _)| match &row.plan {
            Plan::Add { person, .. } => person
                .email
                .as_deref()
                .and_then(|email| crate::domain::Email::parse(email).ok())
                .unwrap_or_else(|| invitee.email.clone()),
            _ => invitee.email.clone(),
        })
        .collect();
    let mut items = Vec::with_capacity(steps.len());
    for ((((row, invitee, role), hash), mail), (ends_on, email)) in steps
        .iter()
        .zip(hashes.iter())
        .zip(mails)
        .zip(ends_on.iter().zip(emails.iter()))
    {
        let (op, details) = match (&row.plan, hash, mail) {
            (Plan::Resend { invitation_id, .. }, Some(hash), Some(mail)) => (
                BatchOp::Resend {
                    invitation_id,
                    token_hash: hash,
                    expires_at,
                    mail,
                },
                format!("re-sent the invitation to {}", invitee.email),
            ),
            (Plan::Add { person, .. }, _, _) => (
                BatchOp::Add {
                    person: DirectoryPersonRef {
                        dn: &person.dn,
                        uid: &person.uid,
                        email,
                        surname: &person.surname,
                        given_name: person.given_name.as_deref(),
                    },
                    role: *role,
                    ends_on: ends_on.clone(),
                },
                format!(
                    "added {} ({}) as {}",
                    person.display_name(),
                    person.uid,
                    role.as_str()
                ),
            ),
            (_, Some(hash), Some(mail)) => (
                BatchOp::Invite(NewInvitation {
                    token_hash: hash,
                    email: &invitee.email,
                    surname: &invitee.surname,
                    given_name: invitee.given_name.as_ref(),
                    role: *role,
                    organisation_id: Some(&organisation.id),
                    invited_by: person_id,
                    invited_by_client: client_id,
                    ends_on: ends_on.as_deref(),
                    message: message.map(InvitationMessage::as_str),
                    expires_at,
                    batch_id: Some(identity.id),
                    mail,
                }),
                format!("invited {} as {}", invitee.email, role.as_str()),
            ),
            _ => continue,
        };
        let action = match op {
            BatchOp::Invite(_) => "invitation.created",
            BatchOp::Resend { .. } => "invitation.resent",
            BatchOp::Add { .. } => "member.added",
        };
        items.push(BatchItem {
            index: row.line,
            email: invitee.email.to_string(),
            op,
            event: AuditEvent {
                actor_id,
                action,
                client_ip: actor.client_ip,
                details: format!("{details} (batch {})", identity.id),
                ..AuditEvent::default()
            },
        });
    }
    let summary = AuditEvent {
        actor_id,
        action: "invitation.batch",
        client_ip: actor.client_ip,
        details: format!(
            "confirmed a batch of {} rows ({} written, {} skipped or refused), batch {}",
            planned.len(),
            items.len(),
            unwritten.len(),
            identity.id
        ),
        ..AuditEvent::default()
    };
    let applied = ctx
        .store
        .apply_invitation_batch(
            BatchHeader {
                id: identity.id,
                organisation_id: &organisation.id,
                actor_id,
                client_id,
                idempotency_key: identity.idempotency_key,
                request_hash: identity.request_hash,
            },
            items,
            unwritten,
            summary,
            now,
        )
        .await?;
    Ok(match applied {
        BatchApplied::Applied { batch, receipt } => {
            crate::jobs::apply(ctx, receipt).await;
            ConfirmedBatch { batch, fresh: true }
        }
        BatchApplied::AlreadyApplied(batch) => ConfirmedBatch {
            batch,
            fresh: false,
        },
    })
}
