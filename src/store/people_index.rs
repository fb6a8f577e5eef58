//! The local people index: a copy of the directory's people (DN, uid, names, mail) with
//! folded search keys, searched instead of LDAP. One row of state says when it was loaded
//! and refreshed, and which instance is refreshing it (a lease).

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Backend, INSERT_CHUNK, Store, StoreResult, fts_phrase, like_literal, value_rows};
use crate::domain::UnixTime;
pub use crate::domain::search_key::IndexedPerson;
use crate::domain::search_key::{KEY_SEPARATOR, person_key, person_sort_key};

/// The index's state.
#[derive(Debug, Clone, Default)]
pub struct IndexState {
    /// When the first full load finished; `None` while the index was never loaded.
    pub loaded_at: Option<UnixTime>,
    pub full_at: Option<UnixTime>,
    pub refreshed_at: Option<UnixTime>,
    /// The newest `modifyTimestamp` read so far.
    pub last_modified: String,
    /// The number of the last full pass.
    pub pass: i64,
}

const STATE_COLUMNS: &str = "loaded_at, full_at, refreshed_at, last_modified, pass";
const PERSON_COLUMNS: &str = "dn, uid, surname, given_name, mail, modified";

fn state_of(row: &AnyRow) -> StoreResult<IndexState> {
    Ok(IndexState {
        loaded_at: row.try_get("loaded_at")?,
        full_at: row.try_get("full_at")?,
        refreshed_at: row.try_get("refreshed_at")?,
        last_modified: row.try_get("last_modified")?,
        pass: row.try_get("pass")?,
    })
}

fn person_of(row: &AnyRow) -> StoreResult<IndexedPerson> {
    Ok(IndexedPerson {
        dn: row.try_get("dn")?,
        uid: row.try_get("uid")?,
        surname: row.try_get("surname")?,
        given_name: row.try_get("given_name")?,
        mail: row.try_get("mail")?,
        modified: row.try_get("modified")?,
    })
}

impl Store {
    pub async fn index_state(&self) -> StoreResult<IndexState> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STATE_COLUMNS} FROM directory_index_state WHERE id = 1"
        )))
        .fetch_one(self.pool())
        .await?;
        state_of(&row)
    }

    /// Whether the index was ever loaded: read once it is, then remembered, so a search
    /// costs no extra query.
    pub async fn index_loaded(&self) -> StoreResult<bool> {
        use std::sync::atomic::Ordering;
        if self.index_loaded.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let loaded = self.index_state().await?.loaded_at.is_some();
        if loaded {
            self.index_loaded.store(true, Ordering::Relaxed);
        }
        Ok(loaded)
    }

    /// Takes the refresh for `lease_seconds` unless another instance holds it.
    pub async fn claim_index_refresh(
        &self,
        now: UnixTime,
        lease_seconds: i64,
    ) -> StoreResult<Option<IndexState>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE directory_index_state SET refreshing_until = $1 \
             WHERE id = 1 AND refreshing_until < $2 RETURNING {STATE_COLUMNS}"
        )))
        .bind(now + lease_seconds)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(state_of).transpose()
    }

    /// Extends the refresh's lease while a long load runs.
    pub async fn renew_index_refresh(&self, until: UnixTime) -> StoreResult<()> {
        sqlx::query("UPDATE directory_index_state SET refreshing_until = $1 WHERE id = 1")
            .bind(until)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Writes these people into the index (new or changed), marked as seen by `pass`.
    pub async fn upsert_index(&self, people: &[IndexedPerson], pass: i64) -> StoreResult<()> {
        if people.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        for chunk in people.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO directory_index (dn, uid, surname, given_name, mail, modified, \
                 search_key, sort_key, pass) VALUES {} ON CONFLICT (dn) DO UPDATE SET \
                 uid = excluded.uid, surname = excluded.surname, given_name = excluded.given_name, \
                 mail = excluded.mail, modified = excluded.modified, search_key = excluded.search_key, \
                 sort_key = excluded.sort_key, pass = excluded.pass",
                value_rows(chunk.len(), 9)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for person in chunk {
                query = query
                    .bind(&person.dn)
                    .bind(&person.uid)
                    .bind(&person.surname)
                    .bind(&person.given_name)
                    .bind(&person.mail)
                    .bind(&person.modified)
                    .bind(person_key(
                        &person.surname,
                        person.given_name.as_deref(),
                        person.mail.as_deref(),
                        &person.uid,
                    ))
                    .bind(person_sort_key(
                        &person.surname,
                        person.given_name.as_deref(),
                        &person.uid,
                    ))
                    .bind(pass);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends a refresh: after a full pass, entries it did not see are gone from LDAP and
    /// are removed. Returns how many were removed.
    pub async fn finish_index_refresh(
        &self,
        now: UnixTime,
        full_pass: Option<i64>,
        last_modified: &str,
    ) -> StoreResult<u64> {
        let mut tx = self.write_transaction().await?;
        let mut removed = 0;
        if let Some(pass) = full_pass {
            removed = sqlx::query("DELETE FROM directory_index WHERE pass < $1")
                .bind(pass)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE directory_index_state SET pass = $1, full_at = $2, \
                 loaded_at = COALESCE(loaded_at, $2) WHERE id = 1",
            )
            .bind(pass)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE directory_index_state SET refreshed_at = $1, refreshing_until = 0, \
             last_modified = CASE WHEN last_modified < $2 THEN $2 ELSE last_modified END \
             WHERE id = 1",
        )
        .bind(now)
        .bind(last_modified)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Releases the refresh after a failure, so another attempt need not wait the lease.
    pub async fn abandon_index_refresh(&self) -> StoreResult<()> {
        sqlx::query("UPDATE directory_index_state SET refreshing_until = 0 WHERE id = 1")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn remove_from_index(&self, dn: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM directory_index WHERE dn = $1")
            .bind(dn)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// People whose surname, given name, mail or uid contains `folded` (an already folded
    /// search text), by surname, given name and uid: the `count` from `offset` among the
    /// first `cap` matches, how many of those there are, and whether more than `cap`
    /// matched. Three characters or more use the trigram index; fewer match the start of
    /// an attribute only. Only the rows shown are read, so a page costs the same whether
    /// 20 or 20,000 people match.
    pub async fn search_index(
        &self,
        folded: &str,
        cap: i64,
        offset: i64,
        count: i64,
    ) -> StoreResult<(Vec<IndexedPerson>, i64, bool)> {
        let substring = folded.chars().count() >= 3;
        let order = match self.backend {
            Backend::Sqlite => "sort_key",
            Backend::Postgres => "sort_key COLLATE \"C\"",
        };
        let (condition, first, second) = match (substring, self.backend) {
            (true, Backend::Sqlite) => (
                "id IN (SELECT rowid FROM directory_index_keys WHERE directory_index_keys MATCH $1)",
                fts_phrase(folded),
                None,
            ),
            (true, Backend::Postgres) => (
                "search_key LIKE $1 ESCAPE '\\'",
                format!("%{}%", like_literal(folded)),
                None,
            ),
            (false, _) => (
                "(search_key LIKE $1 ESCAPE '\\' OR search_key LIKE $2 ESCAPE '\\')",
                format!("{}%", like_literal(folded)),
                Some(format!("%{KEY_SEPARATOR}{}%", like_literal(folded))),
            ),
        };
        // The patterns are $1 (and $2); the numbers after them follow.
        let next = if second.is_some() { 3 } else { 2 };
        // How many match, up to one past the cap, counted without reading the rows (on
        // SQLite from the trigram index alone).
        let counting = match (substring, self.backend) {
            (true, Backend::Sqlite) => format!(
                "SELECT COUNT(*) AS n FROM (SELECT rowid FROM directory_index_keys \
                 WHERE directory_index_keys MATCH $1 LIMIT ${next}) t"
            ),
            _ => format!(
                "SELECT COUNT(*) AS n FROM (SELECT id FROM directory_index WHERE {condition} \
                 LIMIT ${next}) t"
            ),
        };
        let counted = sqlx::query(AssertSqlSafe(counting)).bind(&first);
        let counted = match &second {
            Some(second) => counted.bind(second),
            None => counted,
        }
        .bind(cap + 1);
        let matched: i64 = counted.fetch_one(self.pool()).await?.try_get("n")?;
        let total = matched.min(cap);
        let count = count.min(total - offset.min(total));
        if count <= 0 {
            return Ok((Vec::new(), total, matched > cap));
        }
        // Up to the cap, sorting the matches is cheapest; past it (a common fragment,
        // thousands of matches), walking the sort order until the page is full is.
        let source = if matched > cap && self.backend == Backend::Sqlite {
            "directory_index INDEXED BY directory_index_sort"
        } else {
            "directory_index"
        };
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM {source} WHERE {condition} ORDER BY {order} \
             LIMIT ${next} OFFSET ${}",
            next + 1
        );
        let query = sqlx::query(AssertSqlSafe(sql)).bind(first);
        let query = match second {
            Some(second) => query.bind(second),
            None => query,
        };
        let rows = query
            .bind(count)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let people = rows
            .iter()
            .map(person_of)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((people, total, matched > cap))
    }

    /// The query plan of a 3-character index search, for the tests that keep it indexed.
    /// On PostgreSQL sequential scans are ruled out for it (see below).
    pub async fn explain_index_search(&self, folded: &str) -> StoreResult<String> {
        let (prefix, sql, value) = match self.backend {
            Backend::Sqlite => (
                "EXPLAIN QUERY PLAN ",
                "SELECT dn FROM directory_index WHERE id IN (SELECT rowid FROM directory_index_keys \
                 WHERE directory_index_keys MATCH $1) ORDER BY sort_key LIMIT 501",
                fts_phrase(folded),
            ),
            Backend::Postgres => (
                "EXPLAIN ",
                "SELECT dn FROM directory_index WHERE search_key LIKE $1 ESCAPE '\\' \
                 ORDER BY sort_key COLLATE \"C\" LIMIT 501",
                format!("%{}%", like_literal(folded)),
            ),
        };
        let mut tx = self.pool().begin().await?;
        if self.backend == Backend::Postgres {
            // At test sizes a scan (of the table, or of the sort index) is cheaper and would
            // be chosen; with both ruled out, the plan shows whether the trigram index can
            // serve the query (a query or index that cannot still shows a scan).
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await?;
            sqlx::query("SET LOCAL enable_indexscan = off")
                .execute(&mut *tx)
                .await?;
        }
        let rows = sqlx::query(AssertSqlSafe(format!("{prefix}{sql}")))
            .bind(value)
            .fetch_all(&mut *tx)
            .await?;
        tx.rollback().await?;
        let mut plan = Vec::new();
        for row in rows {
            // SQLite: (id, parent, notused, detail); PostgreSQL: one text column.
            let line: String = match self.backend {
                Backend::Sqlite => row.try_get("detail")?,
                Backend::Postgres => row.try_get(0)?,
            };
            plan.push(line);
        }
        Ok(plan.join("\n"))
    }
}
