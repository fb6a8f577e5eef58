//! The local people index: a copy of the directory's people (DN, uid, names, mail) with
//! folded search keys, searched instead of LDAP. One row of state says when it was loaded
//! and refreshed, and which instance is refreshing it (a lease).

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{
    Backend, INSERT_CHUNK, Store, StoreError, StoreResult, fts_phrase, like_literal, value_rows,
};
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

/// A page of an index search.
#[derive(Debug, Clone, Default)]
pub struct IndexWindow {
    pub people: Vec<IndexedPerson>,
    /// How many matched, up to the cap.
    pub total: i64,
    /// More than the cap matched.
    pub truncated: bool,
    /// The uids among `people` who are members of the organisation asked about, when
    /// the search could tell in the same statement.
    pub members: Option<Vec<String>>,
}

const STATE_COLUMNS: &str = "loaded_at, full_at, refreshed_at, last_modified, pass";
const PERSON_COLUMNS: &str = "dn, uid, surname, given_name, mail, modified";

/// The statement of `search_index_trigrams`: $1 the phrase, $2 the cap plus one, $3 and
/// $4 the page's size and offset, $5 the organisation whose members are marked (or NULL).
fn trigram_page_sql(folded: &str) -> String {
    // Each person's columns, and whether they are a member of $5.
    const COLUMNS: &str = "d.dn, d.uid, d.surname, d.given_name, d.mail, d.modified, \
        EXISTS (SELECT 1 FROM people p JOIN memberships ms ON ms.person_id = p.id \
        WHERE p.username = d.uid AND ms.organisation_id = $5)";
    // A fragment of up to 5 characters (1 to 3 trigrams) is cheap to look up twice, once
    // to count and once for the page. A longer one is a phrase of more trigrams, dearer to
    // match and rarely matching many, so its matches are listed once.
    let matches = if folded.chars().count() <= 5 {
        format!(
            "(SELECT COUNT(*) FROM (SELECT rowid FROM directory_index_keys \
             WHERE directory_index_keys MATCH $1 LIMIT ($2 + 0))) AS matched, \
             (SELECT json_group_array(json_array({COLUMNS}) ORDER BY m.r) \
             FROM (SELECT rowid AS r FROM directory_index_keys \
             WHERE directory_index_keys MATCH $1 ORDER BY rowid LIMIT ($3 + 0) OFFSET ($4 + 0)) m"
        )
    } else {
        format!(
            "(SELECT COUNT(*) FROM listed) AS matched, \
             (SELECT json_group_array(json_array({COLUMNS}) ORDER BY m.r) \
             FROM (SELECT r FROM listed ORDER BY r LIMIT ($3 + 0) OFFSET ($4 + 0)) m"
        )
    };
    format!(
        "WITH listed AS MATERIALIZED (SELECT rowid AS r FROM directory_index_keys \
         WHERE directory_index_keys MATCH $1 ORDER BY rowid LIMIT ($2 + 0)) \
         SELECT {matches} JOIN directory_index d ON d.rank = m.r) AS page"
    )
}

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
        let sqlite_full_pass = full_pass.is_some() && self.backend == Backend::Sqlite;
        if sqlite_full_pass && !self.index_loaded().await? {
            self.number_index_rows().await?;
        }
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
            if self.backend == Backend::Sqlite {
                // A row the portal wrote since the numbering, while the index was not
                // loaded yet, gets its number from the triggers now that it is.
                sqlx::query("UPDATE directory_index SET rank = NULL WHERE rank IS NULL")
                    .execute(&mut *tx)
                    .await?;
            }
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
        if sqlite_full_pass {
            // Merged into one segment each, the trigram indexes (this one, and the staff
            // search's) read a third of the pages for a long query. A full pass (hourly)
            // is a good time: some 0.4 s each for 100,000 people, each in its own
            // transaction so that other writers wait less than their busy timeout.
            for index in ["directory_index_keys", "people_keys"] {
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {index} ({index}) VALUES ('optimize')"
                )))
                .execute(self.pool())
                .await?;
            }
        }
        Ok(removed)
    }

    /// At the end of the first load (SQLite), numbers every row in sort order at once,
    /// spread over 2^61 as migration 0020 does; its triggers number rows one by one once
    /// the index is loaded. Its own transaction: some 3 s for 100,000 people.
    async fn number_index_rows(&self) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "UPDATE directory_index SET rank = NULL WHERE rank IS NOT NULL \
             AND (SELECT loaded_at FROM directory_index_state WHERE id = 1) IS NULL",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE directory_index SET rank = o.n * o.spacing FROM (SELECT id AS oid, \
             row_number() OVER (ORDER BY sort_key, id) AS n, \
             MAX(4294967296, 2305843009213693952 / (COUNT(*) OVER () + 2)) AS spacing \
             FROM directory_index) AS o \
             WHERE directory_index.id = o.oid AND directory_index.rank IS NULL \
             AND (SELECT loaded_at FROM directory_index_state WHERE id = 1) IS NULL",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
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
    /// matched; with `member_of`, which of them are members of that organisation (when
    /// the statement can tell: see `IndexWindow::members`). Three
    /// characters or more use the trigram index; fewer match the start of an attribute
    /// only. Only the rows shown are read, so a page costs the same whether 20 or 20,000
    /// people match.
    pub async fn search_index(
        &self,
        folded: &str,
        cap: i64,
        (offset, count): (i64, i64),
        member_of: Option<&str>,
    ) -> StoreResult<IndexWindow> {
        let substring = folded.chars().count() >= 3;
        if substring && self.backend == Backend::Sqlite {
            return self
                .search_index_trigrams(folded, cap, (offset, count), member_of)
                .await;
        }
        let (condition, first, second) = if substring {
            // PostgreSQL: its pg_trgm index serves the LIKE.
            (
                "search_key LIKE ($1 || '') ESCAPE '\\'",
                format!("%{}%", like_literal(folded)),
                None,
            )
        } else {
            (
                "(search_key LIKE ($1 || '') ESCAPE '\\' OR search_key LIKE ($2 || '') ESCAPE '\\')",
                format!("{}%", like_literal(folded)),
                Some(format!("%{KEY_SEPARATOR}{}%", like_literal(folded))),
            )
        };
        // The patterns are $1 (and $2); the numbers after them follow.
        let next = if second.is_some() { 3 } else { 2 };
        // How many match, up to one past the cap.
        let counting = format!(
            "SELECT COUNT(*) AS n FROM (SELECT id FROM directory_index WHERE {condition} \
             LIMIT (${next} + 0)) t"
        );
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
            return Ok(IndexWindow {
                total,
                truncated: matched > cap,
                ..IndexWindow::default()
            });
        }
        let sql = match self.backend {
            Backend::Sqlite => format!(
                "SELECT {PERSON_COLUMNS} FROM directory_index WHERE {condition} \
                 ORDER BY sort_key, id LIMIT (${next} + 0) OFFSET (${} + 0)",
                next + 1
            ),
            Backend::Postgres => format!(
                "SELECT {PERSON_COLUMNS} FROM directory_index WHERE {condition} \
                 ORDER BY sort_key COLLATE \"C\" LIMIT (${next} + 0) OFFSET (${} + 0)",
                next + 1
            ),
        };
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
        Ok(IndexWindow {
            people,
            total,
            truncated: matched > cap,
            members: None,
        })
    }

    /// `search_index` for 3+ characters on SQLite: the trigram index lists matches by
    /// rank, the sort order (migration 0020), so the page is read where it starts and
    /// only its rows are read. The count and the page come in one statement and one row
    /// (the page as a JSON array): each statement and each row costs a hand-off to the
    /// connection's worker thread.
    async fn search_index_trigrams(
        &self,
        folded: &str,
        cap: i64,
        (offset, count): (i64, i64),
        member_of: Option<&str>,
    ) -> StoreResult<IndexWindow> {
        let row = sqlx::query(AssertSqlSafe(trigram_page_sql(folded)))
            .bind(fts_phrase(folded))
            .bind(cap + 1)
            .bind(count.min(cap - offset).max(0))
            .bind(offset)
            .bind(member_of)
            .fetch_one(self.pool())
            .await?;
        let matched: i64 = row.try_get("matched")?;
        let page: String = row.try_get("page")?;
        type Columns = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            u8,
        );
        let rows = serde_json::from_str::<Vec<Columns>>(&page)
            .map_err(|error| StoreError::Corrupt(format!("people index page: {error}")))?;
        let mut window = IndexWindow {
            total: matched.min(cap),
            truncated: matched > cap,
            ..IndexWindow::default()
        };
        let mut members = Vec::new();
        for (dn, uid, surname, given_name, mail, modified, member) in rows {
            if member == 1 {
                members.push(uid.clone());
            }
            window.people.push(IndexedPerson {
                dn,
                uid,
                surname,
                given_name,
                mail,
                modified,
            });
        }
        window.members = member_of.map(|_| members);
        Ok(window)
    }

    /// The query plan of a 3-character index search, for the tests that keep it indexed.
    /// On PostgreSQL sequential scans are ruled out for it (see below).
    pub async fn explain_index_search(&self, folded: &str) -> StoreResult<String> {
        let (sql, value) = match self.backend {
            Backend::Sqlite => (trigram_page_sql(folded), fts_phrase(folded)),
            Backend::Postgres => (
                "SELECT dn FROM directory_index WHERE search_key LIKE ($1 || '') ESCAPE '\\' \
                 ORDER BY sort_key COLLATE \"C\" LIMIT 501"
                    .to_string(),
                format!("%{}%", like_literal(folded)),
            ),
        };
        let backend = self.backend;
        self.explain(&sql, |query| {
            let query = query.bind(value);
            match backend {
                // The cap, a page of 25 from the start, no organisation.
                Backend::Sqlite => query
                    .bind(501_i64)
                    .bind(25_i64)
                    .bind(0_i64)
                    .bind(None::<String>),
                Backend::Postgres => query,
            }
        })
        .await
    }
}
