//! Keeps the local people index in step with the directory: a full paged load the first
//! time and every `FULL_PASS_SECONDS` (which also finds deletions), and in between only
//! the entries whose `modifyTimestamp` is at or after the newest one seen. One instance
//! refreshes at a time (a lease in the database); all share the index.

use std::time::Duration;

use crate::context::AppContext;
use crate::store::StoreError;
use crate::store::people_index::IndexedPerson;

/// How long a refresh may hold the index before another instance may take over; a
/// running refresh renews it after every page.
const LEASE_SECONDS: i64 = 120;
/// Seconds between two full passes, which find entries deleted from LDAP.
pub const FULL_PASS_SECONDS: i64 = 3600;

/// What one refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshReport {
    pub full: bool,
    pub read: usize,
    pub removed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refreshes the index every `ldap.index_refresh_seconds`; stops with the runtime.
pub fn spawn_index_refresh(ctx: AppContext) -> Option<tokio::task::JoinHandle<()>> {
    let seconds = ctx.settings.ldap.index_refresh_seconds;
    if seconds == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(seconds));
        loop {
            ticker.tick().await;
            match refresh(&ctx).await {
                Ok(Some(report)) => tracing::debug!(?report, "people index refreshed"),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "people index refresh failed; the next one will retry")
                }
            }
        }
    }))
}

/// One refresh, unless another instance is refreshing (`None`).
pub async fn refresh(ctx: &AppContext) -> Result<Option<RefreshReport>, IndexError> {
    let now = ctx.clock.now();
    let Some(state) = ctx.store.claim_index_refresh(now, LEASE_SECONDS).await? else {
        return Ok(None);
    };
    let full = state.loaded_at.is_none()
        || state.last_modified.is_empty()
        || state.full_at.is_none_or(|at| now - at >= FULL_PASS_SECONDS);
    let pass = if full { state.pass + 1 } else { state.pass };
    let since = (!full).then(|| state.last_modified.clone());
    match load(ctx, since, pass).await {
        Ok((read, newest)) => {
            let removed = ctx
                .store
                .finish_index_refresh(ctx.clock.now(), full.then_some(pass), &newest)
                .await?;
            Ok(Some(RefreshReport {
                full,
                read,
                removed,
            }))
        }
        Err(error) => {
            if let Err(release) = ctx.store.abandon_index_refresh().await {
                tracing::warn!(%release, "could not release the people index refresh");
            }
            Err(error)
        }
    }
}

/// Reads the people (all, or those changed since) page by page into the index; returns
/// how many were read and the newest `modifyTimestamp`.
async fn load(
    ctx: &AppContext,
    since: Option<String>,
    pass: i64,
) -> Result<(usize, String), IndexError> {
    let (pages, mut received) = tokio::sync::mpsc::channel::<Vec<IndexedPerson>>(2);
    let directory = ctx.directory.clone();
    let reader = tokio::spawn(async move { directory.index_people(since.as_deref(), pages).await });
    let mut newest = String::new();
    let mut read = 0;
    while let Some(page) = received.recv().await {
        read += page.len();
        // Generalized times of one server compare as text (same format).
        if let Some(latest) = page.iter().map(|person| &person.modified).max()
            && *latest > newest
        {
            newest.clone_from(latest);
        }
        ctx.store.upsert_index(&page, pass).await?;
        ctx.store
            .renew_index_refresh(ctx.clock.now() + LEASE_SECONDS)
            .await?;
    }
    match reader.await {
        Ok(result) => {
            result?;
        }
        Err(error) => {
            return Err(IndexError::Directory(
                crate::directory::DirectoryError::Operation(format!(
                    "the directory reader stopped: {error}"
                )),
            ));
        }
    }
    Ok((read, newest))
}

/// Puts an entry the portal just wrote into the index at once. Marked as seen by the next
/// full pass, so a pass running meanwhile does not sweep it away.
pub async fn portal_wrote(ctx: &AppContext, person: IndexedPerson) {
    let stored = match ctx.store.index_state().await {
        Ok(state) => ctx.store.upsert_index(&[person], state.pass + 1).await,
        Err(error) => Err(error),
    };
    if let Err(error) = stored {
        tracing::warn!(%error, "could not update the people index; the next refresh will");
    }
}

/// Takes an entry the portal just deleted out of the index at once.
pub async fn portal_deleted(ctx: &AppContext, dn: &str) {
    if let Err(error) = ctx.store.remove_from_index(dn).await {
        tracing::warn!(%error, "could not update the people index; the next full pass will");
    }
}
