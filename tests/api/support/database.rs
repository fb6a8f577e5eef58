//! A fresh, empty database per test, on the backend chosen by `ROSTER_TEST_DB`:
//!
//! - `sqlite` (default): a new file in a temporary directory, `sqlite://PATH?mode=rwc`;
//! - `postgres`: a new database `roster_test_<uuid>` on the server at
//!   `ROSTER_TEST_POSTGRES_URL` (an admin URL such as
//!   `postgres://postgres@127.0.0.1:5432/postgres`), or, if that is unset, on one
//!   throwaway PostgreSQL cluster that this test process starts on first use (initdb with
//!   trust auth, fsync off, a free port; run as user `postgres` when we are root). That
//!   cluster is stopped and removed by a small watcher once the test process exits.
//!
//! The database is dropped (`WITH (FORCE)`) when the [`TestDatabase`] is dropped.
//! `scripts/test` runs the whole suite once per backend.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{AssertSqlSafe, Connection};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// From `ROSTER_TEST_DB` (`sqlite` if unset or empty).
    pub fn from_env() -> Backend {
        match std::env::var("ROSTER_TEST_DB").unwrap_or_default().as_str() {
            "" | "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" | "pg" => Backend::Postgres,
            other => panic!("ROSTER_TEST_DB must be 'sqlite' or 'postgres', not {other:?}"),
        }
    }
}

/// One empty database for one test.
pub struct TestDatabase {
    /// Connection URL for the application (`sqlite://…` or `postgres://…`).
    pub url: String,
    pub backend: Backend,
    /// PostgreSQL only: (admin URL, database name), for dropping it.
    postgres: Option<(String, String)>,
    /// SQLite only: the directory holding the file.
    _dir: Option<TempDir>,
}

impl TestDatabase {
    /// Creates a new empty database on the backend from `ROSTER_TEST_DB`.
    pub async fn create() -> TestDatabase {
        Self::create_on(Backend::from_env()).await
    }

    /// Creates a new empty database on the given backend.
    pub async fn create_on(backend: Backend) -> TestDatabase {
        sqlx::any::install_default_drivers();
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("roster-sqlite-")
                    .tempdir()
                    .expect("create a temporary directory for SQLite");
                let path = dir.path().join("roster.db");
                TestDatabase {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    backend,
                    postgres: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
                let mut last_error = String::new();
                for attempt in 0..5 {
                    match create_database(&admin_url, &name).await {
                        Ok(()) => {
                            return TestDatabase {
                                url: with_database(&admin_url, &name),
                                backend,
                                postgres: Some((admin_url, name)),
                                _dir: None,
                            };
                        }
                        Err(error) => last_error = error,
                    }
                    tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
                }
                panic!("could not create PostgreSQL database {name}: {last_error}");
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// A small `AnyPool` on this database (for assertions straight on the tables).
    pub async fn pool(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPoolOptions::new()
            .max_connections(4)
            .connect(&self.url)
            .await
            .unwrap_or_else(|error| panic!("connect to {}: {error}", self.url))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, where we must not block on a future:
        // use a thread with its own small runtime, and wait for it so that the
        // database is gone before the test process exits.
        let handle = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}

async fn create_database(admin_url: &str, name: &str) -> Result<(), String> {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|error| format!("connect to {admin_url}: {error}"))?;
    let sql = format!("CREATE DATABASE \"{name}\"");
    let result = sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|error| format!("CREATE DATABASE {name}: {error}"));
    let _ = conn.close().await;
    result
}

/// `url` with its database (path) replaced by `database`; the query string is kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `ROSTER_TEST_POSTGRES_URL`, or the URL of this process's own throwaway cluster.
fn postgres_admin_url() -> String {
    if let Ok(url) = std::env::var("ROSTER_TEST_POSTGRES_URL")
        && !url.is_empty()
    {
        return url;
    }
    static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();
    match CLUSTER.get_or_init(start_cluster) {
        Ok(url) => url.clone(),
        Err(error) => panic!("could not start a throwaway PostgreSQL cluster: {error}"),
    }
}

/// Stops and removes the cluster once the test process (`$1`) is gone.
const CLUSTER_WATCHER: &str = r#"
parent="$1"; pg_ctl="$2"; data="$3"; dir="$4"; as_postgres="$5"
trap '' INT HUP
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
if [ "$as_postgres" = 1 ]; then
    runuser -u postgres -- "$pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1
else
    "$pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1
fi
rm -rf "$dir"
"#;

fn start_cluster() -> Result<String, String> {
    let bin = postgres_bin_dir();
    let initdb = bin.join("initdb");
    let pg_ctl = bin.join("pg_ctl");
    let as_postgres = running_as_root();
    let dir = tempfile::Builder::new()
        .prefix("roster-pg-")
        .tempdir()
        .map_err(|error| format!("create a temporary directory: {error}"))?
        .keep();
    let data = dir.join("data");
    let log = dir.join("postgres.log");
    if as_postgres {
        run(Command::new("chown").arg("postgres:postgres").arg(&dir))?;
    }
    run(pg_command(as_postgres, &initdb, &dir)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
        .args(["--no-sync", "--no-instructions"]))?;

    let mut last_error = String::new();
    for _attempt in 0..5 {
        let port = free_port();
        let options = format!(
            "-p {port} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            dir.display()
        );
        let started = run(pg_command(as_postgres, &pg_ctl, &dir)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "30", "-o", &options, "start"]));
        match started {
            Ok(()) => {
                let _ = Command::new("sh")
                    .arg("-c")
                    .arg(CLUSTER_WATCHER)
                    .arg("roster-pg-watcher")
                    .arg(std::process::id().to_string())
                    .arg(&pg_ctl)
                    .arg(&data)
                    .arg(&dir)
                    .arg(if as_postgres { "1" } else { "0" })
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn();
                return Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"));
            }
            Err(error) => {
                let log_tail = std::fs::read_to_string(&log).unwrap_or_default();
                last_error = format!("{error}\n{log_tail}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Err(last_error)
}

/// `initdb`/`pg_ctl` as ourselves, or as user postgres (via runuser) when we are root.
fn pg_command(as_postgres: bool, program: &Path, cwd: &Path) -> Command {
    let mut command = if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.current_dir(cwd).stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|error| format!("run {command:?}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} exited with {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// `ROSTER_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/N/bin` (Debian), else
/// whatever is on PATH.
fn postgres_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ROSTER_TEST_PG_BIN")
        && !dir.is_empty()
    {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    newest.map(|(_, bin)| bin).unwrap_or_default()
}

/// Effective uid 0, read from /proc (no libc: the crate forbids unsafe code).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}
