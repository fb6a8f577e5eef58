//! `roster backup` and `roster restore` for SQLite databases: a consistent snapshot while
//! the portal runs, and putting one back (with the portal stopped) without ever moving
//! the uid/gid counters backwards. PostgreSQL sites use pg_dump and pg_restore.

use std::path::{Path, PathBuf};

use crate::config::DatabaseSettings;
use crate::store::Store;
use crate::store::backup::Counts;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// What the operator asked cannot be done as asked (exit code 2).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn sqlite_file(database: &DatabaseSettings, doing: &str) -> Result<PathBuf, BackupError> {
    Store::sqlite_file(database.url.expose()).ok_or_else(|| {
        BackupError::Refused(format!(
            "database.url is not a SQLite file: {doing} PostgreSQL with pg_dump and \
             pg_restore (see the README, \"Backups\")"
        ))
    })
}

fn sqlite_url(file: &Path, mode: &str) -> String {
    format!("sqlite://{}?mode={mode}", file.display())
}

/// Writes a snapshot of the database to `file` (which must not exist) and returns what
/// it holds. Other instances go on serving meanwhile.
pub async fn backup(database: &DatabaseSettings, file: &Path) -> Result<Counts, BackupError> {
    sqlite_file(database, "back up")?;
    if file.exists() {
        return Err(BackupError::Refused(format!(
            "{} already exists; give a new file name",
            file.display()
        )));
    }
    let store = Store::connect(database.url.expose(), 1).await?;
    let written = store.backup_to(file).await;
    store.close().await;
    written?;
    let snapshot = Store::connect(&sqlite_url(file, "ro"), 1).await?;
    let counts = snapshot.counts().await;
    snapshot.close().await;
    Ok(counts?)
}

/// Puts the snapshot `file` in place of the configured database (the portal must be
/// stopped), applies pending migrations, and keeps the uid/gid counters of the database it
/// replaces when they are ahead. Returns what the restored database holds.
pub async fn restore(database: &DatabaseSettings, file: &Path) -> Result<Counts, BackupError> {
    let target = sqlite_file(database, "restore")?;
    if !file.is_file() {
        return Err(BackupError::Refused(format!(
            "{}: no such file",
            file.display()
        )));
    }
    let snapshot = Store::connect(&sqlite_url(file, "ro"), 1).await?;
    if !snapshot.is_roster_database().await.unwrap_or(false) {
        snapshot.close().await;
        return Err(BackupError::Refused(format!(
            "{} is not a Roster database",
            file.display()
        )));
    }
    // Numbers handed out after the backup stay handed out.
    let counters = if target.exists() {
        let current = Store::connect(database.url.expose(), 1).await?;
        let counters = current.id_counters().await;
        current.close().await;
        counters?
    } else {
        Vec::new()
    };
    let incoming = target.with_extension("restoring");
    let _ = std::fs::remove_file(&incoming);
    let copied = snapshot.backup_to(&incoming).await;
    snapshot.close().await;
    copied?;
    for suffix in ["-wal", "-shm"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    std::fs::rename(&incoming, &target).map_err(|error| {
        BackupError::Refused(format!("cannot replace {}: {error}", target.display()))
    })?;
    let restored = Store::connect(database.url.expose(), 1).await?;
    let result = async {
        restored.migrate().await?;
        restored.raise_id_counters(&counters).await?;
        restored.counts().await
    }
    .await;
    restored.close().await;
    Ok(result?)
}
