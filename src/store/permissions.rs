//! Permission checks: site-wide grants plus the person's role in the organisation, mapped
//! to permissions by the `role_permissions` table.

use sqlx::{AssertSqlSafe, Row};

use super::organisations::Organisation;
use super::people::Person;
use super::{Store, StoreResult};
use crate::domain::{Permission, Role};

impl Store {
    pub async fn permission_names(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM permissions ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("name").map_err(Into::into))
            .collect()
    }
}

/// The permissions a person holds: site-wide grants plus their current role in the
/// organisation; the arguments name the parameters holding the person, the organisation
/// (NULL for none) and today's date.
fn held_permissions(person: &str, organisation: &str, today: &str) -> String {
    format!(
        "{} UNION {}",
        site_permissions(person),
        membership_permissions(person, organisation, today)
    )
}

/// The permissions of the person's site-wide grants.
fn site_permissions(person: &str) -> String {
    format!(
        "SELECT rp.permission FROM role_grants g JOIN role_permissions rp ON rp.role = g.role \
         WHERE g.person_id = {person} AND g.organisation_id IS NULL"
    )
}

/// The permissions of the person's current role in the organisation.
pub(super) fn membership_permissions(person: &str, organisation: &str, today: &str) -> String {
    format!(
        "SELECT rp.permission FROM memberships m JOIN role_permissions rp ON rp.role = m.role \
         WHERE m.person_id = {person} AND m.organisation_id = {organisation} \
         AND (m.ends_on IS NULL OR m.ends_on >= {today})"
    )
}

/// The permissions in a row's `held` column (see `joined_permissions`).
pub(super) fn parse_held(row: &sqlx::any::AnyRow) -> StoreResult<Vec<Permission>> {
    let held: Option<String> = row.try_get("held")?;
    Ok(held
        .unwrap_or_default()
        .split(' ')
        .filter_map(Permission::parse)
        .collect())
}

impl Store {
    /// Every permission the person holds here (site-wide grants plus their current role in
    /// the organisation), in one query: pages derive all their checks from it.
    pub async fn permissions_in(
        &self,
        person_id: &str,
        organisation_id: Option<&str>,
        today: &str,
    ) -> StoreResult<Vec<Permission>> {
        let held = held_permissions("$1", "$2", "$3");
        self.read_held(&held, person_id, organisation_id, today)
            .await
    }

    /// An organisation and the permissions the person's current role there gives them
    /// (their site-wide ones come with the account: `person_with_site_permissions`), in
    /// one statement and one row: every organisation page starts with both.
    pub async fn organisation_with_membership_permissions(
        &self,
        organisation_id: &str,
        person_id: &str,
        today: &str,
    ) -> StoreResult<Option<(Organisation, Vec<Permission>)>> {
        let sql = format!(
            "SELECT {}, ({}) AS held FROM organisations o WHERE o.id = $1",
            super::organisations::COLUMNS,
            self.joined_permissions(&membership_permissions("$2", "$1", "$3"))
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(organisation_id)
            .bind(person_id)
            .bind(today)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let organisation = super::organisations::from_row(&row)?;
        Ok(Some((organisation, parse_held(&row)?)))
    }

    /// A person and the permissions they hold site-wide, in one statement: every signed-in
    /// request reads the account (is it still active?), and staff pages check those.
    pub async fn person_with_site_permissions(
        &self,
        person_id: &str,
    ) -> StoreResult<Option<(Person, Vec<Permission>)>> {
        let sql = format!(
            "SELECT {}, ({}) AS held FROM people p WHERE p.id = $1",
            super::people::PERSON_COLUMNS,
            self.joined_permissions(&site_permissions("$1"))
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(person_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((super::people::from_row(&row)?, parse_held(&row)?)))
    }

    /// The permissions the person's current role in the organisation gives them.
    pub async fn membership_permissions_in(
        &self,
        person_id: &str,
        organisation_id: &str,
        today: &str,
    ) -> StoreResult<Vec<Permission>> {
        let held = membership_permissions("$1", "$2", "$3");
        self.read_held(&held, person_id, Some(organisation_id), today)
            .await
    }

    /// The permissions `held` selects for $1 the person, $2 the organisation and $3 today.
    async fn read_held(
        &self,
        held: &str,
        person_id: &str,
        organisation_id: Option<&str>,
        today: &str,
    ) -> StoreResult<Vec<Permission>> {
        let sql = format!("SELECT ({}) AS held", self.joined_permissions(held));
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(person_id)
            .bind(organisation_id)
            .bind(today)
            .fetch_one(self.pool())
            .await?;
        parse_held(&row)
    }

    /// The permissions `held` selects, joined into one space-separated value: one row
    /// instead of one per permission.
    pub(super) fn joined_permissions(&self, held: &str) -> String {
        let joined = match self.backend {
            super::Backend::Sqlite => "group_concat(permission, ' ')",
            super::Backend::Postgres => "string_agg(permission, ' ')",
        };
        format!("SELECT {joined} FROM ({held}) held")
    }
}

impl Store {
    /// Every role with the permissions it carries, as `role_permissions` maps them.
    pub async fn role_permissions(&self) -> StoreResult<Vec<(Role, Vec<Permission>)>> {
        let rows = sqlx::query("SELECT role, permission FROM role_permissions ORDER BY permission")
            .fetch_all(self.pool())
            .await?;
        let mut roles: Vec<(Role, Vec<Permission>)> = Vec::new();
        for row in rows {
            let role: String = row.try_get("role")?;
            let permission: String = row.try_get("permission")?;
            let (Some(role), Some(permission)) =
                (Role::parse(&role), Permission::parse(&permission))
            else {
                continue;
            };
            match roles.iter_mut().find(|(held, _)| *held == role) {
                Some((_, permissions)) => permissions.push(permission),
                None => roles.push((role, vec![permission])),
            }
        }
        Ok(roles)
    }
}
