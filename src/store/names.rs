//! POSIX names (usernames, which are also private groups, and organisations' group
//! names, and resources' groups): each claimed once, in one table, inside the transaction that takes it.

use super::StoreResult;
use crate::domain::UnixTime;

/// Who holds a POSIX name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NameKind {
    Person,
    Organisation,
    Resource,
}

/// Claims `name` for `owner_id` inside the caller's transaction; false when someone holds it
/// already. The primary key of `posix_names` makes two claims at once have one winner.
pub(crate) async fn claim_name(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    kind: NameKind,
    owner_id: &str,
    now: UnixTime,
) -> StoreResult<bool> {
    let kind = match kind {
        NameKind::Person => "person",
        NameKind::Organisation => "organisation",
        NameKind::Resource => "resource",
    };
    let claimed = sqlx::query(
        "INSERT INTO posix_names (name, kind, owner_id, claimed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(kind)
    .bind(owner_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(claimed.rows_affected() == 1)
}
