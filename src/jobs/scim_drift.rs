//! Drift between a SCIM target and the portal: every User and Group the target lists
//! (paged), compared with what the portal expects. Objects whose `externalId` is not one
//! of the portal's ids (or is empty) belong to someone else and are never reported or
//! touched. Repairing an item is running its job: the job makes the target match.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::context::AppContext;
use crate::scim::{
    Endpoint, RemoteObject, ScimError, ScimTarget, remote_members, user_differences,
};
use crate::store::StoreError;
use crate::store::scim::ScimKind;

/// How one object differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The portal expects it; the target does not have it.
    Missing,
    /// The target has it, tagged with a portal id, but the portal expects none.
    Extra,
    /// These attributes differ.
    Attributes(Vec<&'static str>),
    /// These usernames should be members and are not, and these are and should not be.
    Members {
        missing: Vec<String>,
        extra: Vec<String>,
    },
}

/// One difference, about the object the portal knows by `local_id` (its `externalId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftItem {
    pub kind: ScimKind,
    pub local_id: String,
    /// The userName or displayName, for people to read.
    pub name: String,
    pub drift: Drift,
}

impl DriftItem {
    /// One line, for the log, the command line and the report's digest.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            ScimKind::User => "User",
            ScimKind::Group => "Group",
        };
        let problem = match &self.drift {
            Drift::Missing => "missing at the target".to_string(),
            Drift::Extra => "at the target but not expected".to_string(),
            Drift::Attributes(names) => format!("differs in {}", names.join(", ")),
            Drift::Members { missing, extra } => {
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("lacks members {}", missing.join(", ")));
                }
                if !extra.is_empty() {
                    parts.push(format!("has extra members {}", extra.join(", ")));
                }
                parts.join("; ")
            }
        };
        format!("{what} {} ({}): {problem}", self.name, self.local_id)
    }
}

/// A target's drift report.
#[derive(Debug, Clone, Default)]
pub struct DriftReport {
    pub users_expected: usize,
    pub users_remote: usize,
    pub groups_expected: usize,
    pub groups_remote: usize,
    pub items: Vec<DriftItem>,
}

impl DriftReport {
    /// Counts by kind of difference: missing, extra, attribute and member mismatches.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let count = |matches: fn(&Drift) -> bool| {
            self.items
                .iter()
                .filter(|item| matches(&item.drift))
                .count()
        };
        (
            count(|drift| matches!(drift, Drift::Missing)),
            count(|drift| matches!(drift, Drift::Extra)),
            count(|drift| matches!(drift, Drift::Attributes(_))),
            count(|drift| matches!(drift, Drift::Members { .. })),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Compares everything the target lists with what the portal expects.
pub async fn reconcile(ctx: &AppContext, target: &ScimTarget) -> Result<DriftReport, DriftError> {
    let today = ctx.clock.today_iso();
    let settings = &target.settings;
    let mut report = DriftReport::default();
    // Users are listed even for a target not sent them: Groups name members by User id.
    let remote_users = target.client.list_all(Endpoint::Users).await?;
    let user_names: HashMap<&str, &str> = remote_users
        .iter()
        .filter_map(|user| {
            let name = user.body.get("userName")?.as_str()?;
            Some((user.id.as_str(), name))
        })
        .collect();
    if settings.users {
        let expected: BTreeMap<String, _> = ctx
            .store
            .scim_expected_users(&today)
            .await?
            .into_iter()
            .map(|facts| {
                (
                    facts.person_id.clone(),
                    super::scim::expected_user(target, &facts),
                )
            })
            .collect();
        report.users_expected = expected.len();
        report.users_remote = remote_users.len();
        let mut seen = BTreeSet::new();
        for user in &remote_users {
            let Some(local_id) = user.external_id() else {
                continue;
            };
            let name = user_names
                .get(user.id.as_str())
                .copied()
                .unwrap_or("")
                .to_string();
            match expected.get(local_id) {
                Some(state) => {
                    seen.insert(local_id.to_string());
                    let differences = user_differences(state, &user.body);
                    if !differences.is_empty() {
                        report.items.push(item(
                            ScimKind::User,
                            local_id,
                            name,
                            Drift::Attributes(differences),
                        ));
                    }
                }
                None if ctx.store.is_portal_id(local_id).await? => {
                    report
                        .items
                        .push(item(ScimKind::User, local_id, name, Drift::Extra));
                }
                None => {}
            }
        }
        for (local_id, state) in &expected {
            if !seen.contains(local_id) {
                report.items.push(item(
                    ScimKind::User,
                    local_id,
                    state.user_name.clone(),
                    Drift::Missing,
                ));
            }
        }
    }
    if settings.groups {
        let remote_groups = target.client.list_all(Endpoint::Groups).await?;
        report.groups_remote = remote_groups.len();
        let by_external: HashMap<&str, &RemoteObject> = remote_groups
            .iter()
            .filter_map(|group| Some((group.external_id()?, group)))
            .collect();
        let expected_ids = ctx.store.scim_expected_group_ids().await?;
        report.groups_expected = expected_ids.len();
        for local_id in &expected_ids {
            let Some(facts) = ctx.store.scim_group_facts(local_id, &today).await? else {
                continue;
            };
            let Some(remote) = by_external.get(local_id.as_str()) else {
                report.items.push(item(
                    ScimKind::Group,
                    local_id,
                    facts.display_name,
                    Drift::Missing,
                ));
                continue;
            };
            let remote_name = remote
                .body
                .get("displayName")
                .and_then(|name| name.as_str());
            if remote_name != Some(facts.display_name.as_str()) {
                report.items.push(item(
                    ScimKind::Group,
                    local_id,
                    facts.display_name.clone(),
                    Drift::Attributes(vec!["displayName"]),
                ));
            }
            let present: BTreeSet<String> = remote_members(&remote.body)
                .iter()
                .map(|id| {
                    user_names
                        .get(id.as_str())
                        .map_or_else(|| id.clone(), |name| name.to_string())
                })
                .collect();
            let wanted: BTreeSet<String> = facts.member_usernames.iter().cloned().collect();
            let missing: Vec<String> = wanted.difference(&present).cloned().collect();
            let extra: Vec<String> = present.difference(&wanted).cloned().collect();
            if !missing.is_empty() || !extra.is_empty() {
                report.items.push(item(
                    ScimKind::Group,
                    local_id,
                    facts.display_name,
                    Drift::Members { missing, extra },
                ));
            }
        }
        let expected: BTreeSet<&str> = expected_ids.iter().map(String::as_str).collect();
        for group in &remote_groups {
            let Some(local_id) = group.external_id() else {
                continue;
            };
            if !expected.contains(local_id) && ctx.store.is_portal_id(local_id).await? {
                let name = group
                    .body
                    .get("displayName")
                    .and_then(|n| n.as_str())
                    .unwrap_or("");
                report.items.push(item(
                    ScimKind::Group,
                    local_id,
                    name.to_string(),
                    Drift::Extra,
                ));
            }
        }
    }
    Ok(report)
}

fn item(kind: ScimKind, local_id: &str, name: String, drift: Drift) -> DriftItem {
    DriftItem {
        kind,
        local_id: local_id.to_string(),
        name,
        drift,
    }
}
