//! Permission checks: site-wide grants plus the person's role in the organisation, mapped
//! to permissions by the `role_permissions` table.

use sqlx::Row;

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

impl Store {
    /// Every permission the person holds here (site-wide grants plus their current role in
    /// the organisation), in one query: pages derive all their checks from it.
    pub async fn permissions_in(
        &self,
        person_id: &str,
        organisation_id: Option<&str>,
        today: &str,
    ) -> StoreResult<Vec<Permission>> {
        let rows = sqlx::query(
            "SELECT DISTINCT rp.permission FROM role_permissions rp WHERE rp.role IN ( \
               SELECT role FROM role_grants WHERE person_id = $1 AND organisation_id IS NULL \
               UNION \
               SELECT role FROM memberships WHERE person_id = $1 AND organisation_id = $2 \
                 AND (ends_on IS NULL OR ends_on >= $3))",
        )
        .bind(person_id)
        .bind(organisation_id)
        .bind(today)
        .fetch_all(self.pool())
        .await?;
        let mut held = Vec::new();
        for row in rows {
            let name: String = row.try_get("permission")?;
            if let Some(permission) = Permission::parse(&name) {
                held.push(permission);
            }
        }
        Ok(held)
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
