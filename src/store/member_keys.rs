//! The sort and search keys of a person, kept on their row (staff account search) and on
//! each of their memberships (member lists), and refreshed together whenever a name, email,
//! username or status changes.

use sqlx::{AssertSqlSafe, Row};

use super::StoreResult;

/// The member list's sort and search keys for one person, stored with each membership
/// (migration 0003) and on their row: the sort key is the lowercased name; the search key
/// the folded name, email and username (`domain::search_key`), one per line.
pub(crate) struct MemberKeys {
    pub(crate) sort_key: String,
    pub(crate) search_text: String,
}

impl MemberKeys {
    pub(crate) fn of(
        person_id: &str,
        surname: &str,
        given_name: Option<&str>,
        email: &str,
        username: Option<&str>,
    ) -> Self {
        let (surname, given) = (
            surname.to_lowercase(),
            given_name.unwrap_or("").to_lowercase(),
        );
        Self {
            sort_key: format!("{surname} {given} {person_id}"),
            search_text: crate::domain::search_key::person_key(
                &surname,
                given_name,
                Some(email),
                username.unwrap_or(""),
            ),
        }
    }
}

impl MemberKeys {
    /// Writes these keys to the person and every membership of theirs, and moves the
    /// versions of their organisations' member lists.
    pub(crate) async fn store_for(
        &self,
        conn: &mut sqlx::AnyConnection,
        person_id: &str,
    ) -> StoreResult<()> {
        for table in ["people", "memberships"] {
            let column = if table == "people" { "id" } else { "person_id" };
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET sort_key = $1, search_text = $2 WHERE {column} = $3"
            )))
            .bind(&self.sort_key)
            .bind(&self.search_text)
            .bind(person_id)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query(
            "UPDATE organisations SET members_version = members_version + 1 \
             WHERE id IN (SELECT organisation_id FROM memberships WHERE person_id = $1)",
        )
        .bind(person_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

impl MemberKeys {
    /// The person's keys, computed from their row; `None` when there is no such person.
    pub(crate) async fn for_person(
        conn: &mut sqlx::AnyConnection,
        person_id: &str,
    ) -> StoreResult<Option<Self>> {
        let row =
            sqlx::query("SELECT surname, given_name, email, username FROM people WHERE id = $1")
                .bind(person_id)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let surname: String = row.try_get("surname")?;
        let given_name: Option<String> = row.try_get("given_name")?;
        let email: String = row.try_get("email")?;
        let username: Option<String> = row.try_get("username")?;
        Ok(Some(Self::of(
            person_id,
            &surname,
            given_name.as_deref(),
            &email,
            username.as_deref(),
        )))
    }

    /// Recomputes the person's keys from their row and stores them everywhere (their row,
    /// their memberships, their organisations' list versions).
    pub(crate) async fn refresh(
        conn: &mut sqlx::AnyConnection,
        person_id: &str,
    ) -> StoreResult<()> {
        match Self::for_person(conn, person_id).await? {
            Some(keys) => keys.store_for(conn, person_id).await,
            None => Ok(()),
        }
    }
}

impl super::Store {
    /// Rewrites search keys stored before they were folded (they hold no line break), a
    /// chunk at a time; returns how many people were rewritten. Run at start-up, so an
    /// upgraded site's searches ignore accents too; costs one scan when nothing is left.
    pub async fn refold_search_keys(&self) -> StoreResult<u64> {
        const CHUNK: i64 = 500;
        let mut rewritten = 0;
        loop {
            let rows = sqlx::query(
                "SELECT id, surname, given_name, email, username FROM people \
                 WHERE search_text NOT LIKE ($1 || '') LIMIT ($2 + 0)",
            )
            .bind(format!("%{}%", crate::domain::search_key::KEY_SEPARATOR))
            .bind(CHUNK)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                break;
            }
            let mut tx = self.write_transaction().await?;
            for row in &rows {
                let id: String = row.try_get("id")?;
                let surname: String = row.try_get("surname")?;
                let given_name: Option<String> = row.try_get("given_name")?;
                let email: String = row.try_get("email")?;
                let username: Option<String> = row.try_get("username")?;
                let keys = MemberKeys::of(
                    &id,
                    &surname,
                    given_name.as_deref(),
                    &email,
                    username.as_deref(),
                );
                for table in ["people", "memberships"] {
                    let column = if table == "people" { "id" } else { "person_id" };
                    sqlx::query(AssertSqlSafe(format!(
                        "UPDATE {table} SET search_text = $1 WHERE {column} = $2"
                    )))
                    .bind(&keys.search_text)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            rewritten += u64::try_from(rows.len()).unwrap_or(0);
        }
        if rewritten > 0 {
            // Member lists cached by version read the new keys.
            sqlx::query("UPDATE organisations SET members_version = members_version + 1")
                .execute(self.pool())
                .await?;
        }
        Ok(rewritten)
    }
}
