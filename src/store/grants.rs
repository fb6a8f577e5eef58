//! Role grants: site-wide or scoped to one organisation.

use super::{StoreResult, new_id};
use crate::domain::{Role, UnixTime};

pub(crate) async fn insert(
    tx: &mut sqlx::AnyConnection,
    person_id: &str,
    role: Role,
    organisation_id: Option<&str>,
    granted_by: Option<&str>,
    now: UnixTime,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO role_grants (id, person_id, role, organisation_id, granted_at, granted_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(person_id)
    .bind(role.as_str())
    .bind(organisation_id)
    .bind(now)
    .bind(granted_by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
