//! The database: one module per aggregate, and the only place SQL lives.
//!
//! One SQL text serves SQLite and PostgreSQL through sqlx's `Any` driver, so there is one
//! store API instead of two copies; only the migrations are kept per backend. `Any` carries
//! basic types only, so ids are TEXT (UUIDs) and times are BIGINT Unix seconds.
//!
//! A LIMIT or OFFSET is bound as `($n + 0)` and a LIKE pattern as `($n || '')`, never as a
//! bare parameter: SQLite lets a bare parameter in those places shape the plan, so the
//! statement would be compiled again at every execution (the `store_sql` test keeps it so).

// The one place this is allowed (clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod accounts;
pub mod adoption;
pub mod audit;
pub mod backup;
pub mod clients;
pub mod grants;
pub mod home;
pub mod identities;
pub mod ids;
pub mod invitation_batches;
pub mod invitations;
pub mod jobs;
pub mod ldap_drift;
pub mod lifecycle;
pub mod mail_outbox;
pub mod member_batch;
pub(crate) mod member_keys;
pub mod memberships;
pub(crate) mod names;
pub mod organisations;
pub mod passwords;
pub mod people;
pub mod people_index;
pub mod permissions;
pub mod resources;
pub mod scim;
pub mod sessions;
pub mod signing_keys;
pub mod ssh_keys;
pub mod unit_of_work;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, AssertSqlSafe, ConnectOptions, Row};

/// A statement with its parameters, as `Store::explain` binds them.
type AnyQuery = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    member_pages: memberships::MemberPageCache<memberships::MemberPage>,
    member_slices: memberships::MemberPageCache<std::sync::Arc<memberships::MemberSlice>>,
    /// SQLite has one writer at a time and makes others sleep and retry (1, 2, 5 ms…);
    /// statements on every API request queue here instead (see `clients`).
    sqlite_writer: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// The SCIM targets every change queues work for (see `unit_of_work`).
    scim_targets: std::sync::Arc<Vec<ScimPush>>,
    /// The people index was seen loaded (it never becomes unloaded again).
    index_loaded: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// See `DatabaseSettings::member_scan_limit`.
    member_scan_limit: i64,
}

/// A SCIM target as the unit of work sees it: its name and what it is sent.
#[derive(Debug, Clone)]
pub struct ScimPush {
    pub name: String,
    pub users: bool,
    pub groups: bool,
}

/// The connection pool's use, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolUsage {
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
}

impl Store {
    pub fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            // Create the SQLite file on first start.
            Backend::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5));
        if backend == Backend::Sqlite {
            // A local file does not drop connections, and testing one before each use is
            // one more hand-off to its worker thread, for every statement.
            // WAL lets readers run beside the writer; the busy timeout queues writers
            // instead of failing them with SQLITE_BUSY. A read-only file (a backup being
            // read) cannot switch its journal mode, and need not.
            let pragmas = if url.contains("mode=ro") {
                "PRAGMA busy_timeout = 5000;"
            } else {
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
            };
            pool_options = pool_options
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(pragmas).execute(conn).await?;
                        Ok(())
                    })
                });
        }
        let pool = pool_options.connect_with(options).await?;
        Ok(Self {
            pool,
            backend,
            member_pages: memberships::MemberPageCache::default(),
            member_slices: memberships::MemberPageCache::default(),
            sqlite_writer: (backend == Backend::Sqlite)
                .then(|| std::sync::Arc::new(tokio::sync::Mutex::new(()))),
            scim_targets: std::sync::Arc::default(),
            index_loaded: std::sync::Arc::default(),
            member_scan_limit: i64::MAX,
        })
    }

    /// Makes every change queue work for these SCIM targets too.
    pub fn with_scim_targets(mut self, targets: Vec<ScimPush>) -> Self {
        self.scim_targets = std::sync::Arc::new(targets);
        self
    }

    /// Member lists of more members than `limit` search through the trigram index
    /// (SQLite; see `DatabaseSettings::member_scan_limit`).
    pub fn with_member_scan_limit(mut self, limit: i64) -> Self {
        self.member_scan_limit = limit;
        self
    }

    pub fn scim_targets(&self) -> &[ScimPush] {
        &self.scim_targets
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// For readiness checks: can we run a query right now?
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The query plan of `sql`, its parameters bound by `bind`, one line per step. On
    /// PostgreSQL sequential and plain index scans are ruled out first: at test sizes a
    /// scan (of the table, or of a sort index) is cheaper and would be chosen; with both
    /// ruled out the plan shows whether a trigram index can serve the query (a query or
    /// index that cannot still shows a scan). For the tests that keep searches indexed.
    pub(crate) async fn explain(
        &self,
        sql: &str,
        bind: impl FnOnce(AnyQuery) -> AnyQuery,
    ) -> StoreResult<String> {
        let mut tx = self.pool().begin().await?;
        let prefix = match self.backend {
            Backend::Sqlite => "EXPLAIN QUERY PLAN",
            Backend::Postgres => {
                for setting in ["enable_seqscan", "enable_indexscan"] {
                    sqlx::query(AssertSqlSafe(format!("SET LOCAL {setting} = off")))
                        .execute(&mut *tx)
                        .await?;
                }
                "EXPLAIN"
            }
        };
        let query = bind(sqlx::query(AssertSqlSafe(format!("{prefix} {sql}"))));
        let rows = query.fetch_all(&mut *tx).await?;
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

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// On SQLite, this process's turn to write (held until dropped); nothing on PostgreSQL,
    /// whose row locks queue writers without sleeping.
    pub(crate) async fn sqlite_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.sqlite_writer {
            Some(writer) => Some(writer.lock().await),
            None => None,
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), waiting its turn through the busy timeout: a transaction that read first
    /// would instead fail at its first write whenever another connection (a worker sending
    /// mail, say) wrote since it began.
    pub(crate) async fn write_transaction(
        &self,
    ) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `($1, …, $k), ($k+1, …)`: the VALUES of a multi-row INSERT of `rows` rows of `columns`
/// columns each (only ever placeholders, so the SQL stays constant text).
pub(crate) fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let cells: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows per multi-row INSERT: well under both backends' limits on placeholders.
pub(crate) const INSERT_CHUNK: usize = 200;

/// A fresh random id for a new row.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// True when the error is a unique-constraint violation (both backends).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[derive(Debug, thiserror::Error)]
/// Why a change to an account was refused by the store.
pub enum AccountChangeError {
    #[error("another account already uses this email address")]
    EmailTaken,
    #[error("the account is not in a state that allows this")]
    WrongState,
    #[error("the last site administrator cannot lose the role")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AccountChangeError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

/// A `LIKE` pattern matching the folded `text` (`domain::search_key::fold`: no accents,
/// apostrophes or hyphens) anywhere in a folded search key; the plain pattern when nothing
/// is left after folding.
pub(crate) fn folded_contains_pattern(text: &str) -> String {
    let folded = crate::domain::search_key::fold(text);
    if folded.is_empty() {
        contains_pattern(text)
    } else {
        contains_pattern(&folded)
    }
}

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\` taken literally.
pub(crate) fn contains_pattern(text: &str) -> String {
    format!("%{}%", like_literal(&text.to_lowercase()))
}

/// `text` with `%`, `_` and `\` taken literally in a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_literal(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            other => vec![other],
        })
        .collect()
}

/// `text` as one FTS5 phrase (a substring match with the trigram tokenizer), quotes
/// doubled so it can only ever be a value.
pub(crate) fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod store_sql {
    /// Every LIMIT, OFFSET and LIKE pattern in the store is bound as an expression (see
    /// the module's documentation): a bare parameter recompiles its statement each time.
    #[test]
    fn no_bare_parameter_shapes_a_plan() -> std::io::Result<()> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let text = std::fs::read_to_string(&path)?;
            for (number, line) in text.lines().enumerate() {
                for word in ["LIMIT", "OFFSET", "LIKE"] {
                    let bare = format!("{word} $");
                    if line.contains(&bare) && !line.trim_start().starts_with("//") {
                        found.push(format!(
                            "{}:{}: {}",
                            path.display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
        assert!(found.is_empty(), "bare parameters:\n{}", found.join("\n"));
        Ok(())
    }
}
