//! What the home page shows each person: their memberships with what each lets them do,
//! what waits in the organisations they run, and what waits for staff. Every read is
//! one bounded statement.

use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError, StoreResult};
use crate::domain::{Permission, Role, UnixTime};

/// One of the person's memberships and the permissions it gives them today.
pub struct HomeMembership {
    pub organisation_id: String,
    pub organisation_name: String,
    pub role: Role,
    pub ends_on: Option<String>,
    pub held: Vec<Permission>,
}

/// An invitation still waiting for an answer, as the home page lists it.
pub struct WaitingBrief {
    pub name: String,
    pub email: String,
    pub expires_at: UnixTime,
}

/// The first few waiting invitations of an organisation, newest first, and how many wait.
pub struct WaitingInvitations {
    pub total: i64,
    pub newest: Vec<WaitingBrief>,
}

/// A membership that ends soon.
pub struct EndingMembership {
    pub membership_id: String,
    pub name: String,
    pub ends_on: String,
}

/// The first memberships ending soon, soonest first, and how many there are.
pub struct EndingMemberships {
    pub total: i64,
    pub soonest: Vec<EndingMembership>,
}

/// Most memberships the home page lists.
pub const HOME_MEMBERSHIPS: i64 = 100;

impl Store {
    /// The person's memberships by organisation name, each with the permissions its role
    /// gives today (none once it has ended), in one statement.
    pub async fn home_memberships(
        &self,
        person_id: &str,
        today: &str,
    ) -> StoreResult<Vec<HomeMembership>> {
        let held = self.joined_permissions(&super::permissions::membership_permissions(
            "$1",
            "mine.organisation_id",
            "$2",
        ));
        let sql = format!(
            "SELECT mine.organisation_id, o.name, mine.role, mine.ends_on, ({held}) AS held \
             FROM memberships mine JOIN organisations o ON o.id = mine.organisation_id \
             WHERE mine.person_id = $1 ORDER BY LOWER(o.name), o.id LIMIT ($3 + 0)"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(person_id)
            .bind(today)
            .bind(HOME_MEMBERSHIPS)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                Ok(HomeMembership {
                    organisation_id: row.try_get("organisation_id")?,
                    organisation_name: row.try_get("name")?,
                    role: Role::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                    ends_on: row.try_get("ends_on")?,
                    held: super::permissions::parse_held(row)?,
                })
            })
            .collect()
    }

    /// The organisation's `limit` newest invitations still waiting at `now`, and how many
    /// wait in all.
    pub async fn waiting_invitations_of(
        &self,
        organisation_id: &str,
        now: UnixTime,
        limit: i64,
    ) -> StoreResult<WaitingInvitations> {
        let rows = sqlx::query(
            "SELECT surname, given_name, email, expires_at, COUNT(*) OVER () AS total \
             FROM invitations WHERE organisation_id = $1 AND status = 'pending' AND expires_at > $2 \
             ORDER BY created_at DESC, id LIMIT ($3 + 0)",
        )
        .bind(organisation_id)
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let total = match rows.first() {
            Some(row) => row.try_get("total")?,
            None => 0,
        };
        let newest = rows
            .iter()
            .map(|row| {
                let surname: String = row.try_get("surname")?;
                let given: Option<String> = row.try_get("given_name")?;
                Ok(WaitingBrief {
                    name: crate::domain::full_name(given.as_deref(), &surname),
                    email: row.try_get("email")?,
                    expires_at: row.try_get("expires_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(WaitingInvitations { total, newest })
    }

    /// The organisation's first `limit` memberships ending from `today` to `until`
    /// (ISO dates), soonest first, and how many there are.
    pub async fn memberships_ending_between(
        &self,
        organisation_id: &str,
        (today, until): (&str, &str),
        limit: i64,
    ) -> StoreResult<EndingMemberships> {
        let rows = sqlx::query(
            "SELECT m.id, p.surname, p.given_name, m.ends_on, COUNT(*) OVER () AS total \
             FROM memberships m JOIN people p ON p.id = m.person_id \
             WHERE m.organisation_id = $1 AND m.ends_on >= $2 AND m.ends_on <= $3 \
             ORDER BY m.ends_on, p.sort_key, m.id LIMIT ($4 + 0)",
        )
        .bind(organisation_id)
        .bind(today)
        .bind(until)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let total = match rows.first() {
            Some(row) => row.try_get("total")?,
            None => 0,
        };
        let soonest = rows
            .iter()
            .map(|row| {
                let surname: String = row.try_get("surname")?;
                let given: Option<String> = row.try_get("given_name")?;
                Ok(EndingMembership {
                    membership_id: row.try_get("id")?,
                    name: crate::domain::full_name(given.as_deref(), &surname),
                    ends_on: row.try_get("ends_on")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(EndingMemberships { total, soonest })
    }

    /// Whether the person has at least one SSH key.
    pub async fn has_ssh_key(&self, person_id: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM ssh_keys WHERE person_id = $1 LIMIT 1) k",
        )
        .bind(person_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// What waits for staff: outbox jobs failed for good, and accounts whose directory
    /// change waits in the outbox (the accounts search's "Pending LDAP").
    pub async fn staff_waiting(&self) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'failed') AS failed, \
             (SELECT COUNT(DISTINCT j.subject_id) FROM jobs j JOIN people p ON p.id = j.subject_id \
              WHERE j.kind = 'sync_account' AND j.status IN ('pending', 'failed') \
              AND p.status <> 'deleted') AS pending_ldap",
        )
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get("failed")?, row.try_get("pending_ldap")?))
    }
}
