//! Backups and restores of a SQLite database, taken while the portal runs, and the check
//! at start-up that the database can be written at all. PostgreSQL has pg_dump.

use std::path::{Path, PathBuf};

use sqlx::Row;

use super::{Backend, Store, StoreError, StoreResult};

/// How many rows the tables a snapshot must keep consistent hold (for checks and the
/// command line's report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub people: i64,
    pub accounts: i64,
    pub organisations: i64,
    pub memberships: i64,
    pub pending_jobs: i64,
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite file a `sqlite:` URL names (`None` for PostgreSQL or in-memory).
    pub fn sqlite_file(url: &str) -> Option<PathBuf> {
        let rest = url
            .strip_prefix("sqlite://")
            .or(url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    /// Writes a consistent snapshot of the whole database to `file`, which must not exist,
    /// while others go on reading and writing: `VACUUM INTO` reads in one transaction.
    pub async fn backup_to(&self, file: &Path) -> StoreResult<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Corrupt(
                "backups of PostgreSQL are taken with pg_dump".into(),
            ));
        }
        let result = sqlx::query("VACUUM INTO $1")
            .bind(file.to_string_lossy().into_owned())
            .execute(self.pool())
            .await;
        if result.is_err() {
            // A snapshot cut short is no backup.
            let _ = std::fs::remove_file(file);
        }
        result?;
        Ok(())
    }

    /// Whether this is a database Roster made (it has Roster's migrations table).
    pub async fn is_roster_database(&self) -> StoreResult<bool> {
        let tables: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
             AND name IN ('_sqlx_migrations', 'people', 'id_counters')",
        )
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;
        Ok(tables == 3)
    }

    /// The uid and gid counters (kind, next value).
    pub async fn id_counters(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT kind, next_value FROM id_counters ORDER BY kind")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("kind")?, row.try_get("next_value")?)))
            .collect()
    }

    /// Moves the counters up to at least these values, never down: after a restore, the
    /// numbers handed out since the backup stay taken.
    pub async fn raise_id_counters(&self, counters: &[(String, i64)]) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        for (kind, next_value) in counters {
            sqlx::query(
                "INSERT INTO id_counters (kind, next_value) VALUES ($1, $2) \
                 ON CONFLICT (kind) DO UPDATE SET next_value = \
                 CASE WHEN id_counters.next_value < $2 THEN $2 ELSE id_counters.next_value END",
            )
            .bind(kind)
            .bind(*next_value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn counts(&self) -> StoreResult<Counts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM people) AS people, \
             (SELECT COUNT(*) FROM people WHERE uid_number IS NOT NULL) AS accounts, \
             (SELECT COUNT(*) FROM organisations) AS organisations, \
             (SELECT COUNT(*) FROM memberships) AS memberships, \
             (SELECT COUNT(*) FROM jobs WHERE status = 'pending') AS pending_jobs",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(Counts {
            people: row.try_get("people")?,
            accounts: row.try_get("accounts")?,
            organisations: row.try_get("organisations")?,
            memberships: row.try_get("memberships")?,
            pending_jobs: row.try_get("pending_jobs")?,
        })
    }

    /// Fails unless this connection may write: a write transaction that changes nothing
    /// and rolls back (a read-only file or role fails here, not at the first sign-in).
    pub async fn check_writable(&self) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("UPDATE id_counters SET next_value = next_value WHERE kind = ''")
            .execute(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(())
    }
}
