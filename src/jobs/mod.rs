//! Background work each instance runs beside the web server. Today: housekeeping (expired
//! sessions, idle rate-limit counters). Every job is safe to run on several instances at once.

use std::time::Duration;

use crate::context::{AppContext, now};

const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);

/// Starts the periodic housekeeping task; it stops when the runtime does.
pub fn spawn_housekeeping(ctx: AppContext) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        loop {
            ticker.tick().await;
            housekeeping(&ctx).await;
        }
    })
}

pub async fn housekeeping(ctx: &AppContext) {
    match ctx.store.delete_expired_sessions(now()).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "expired sessions removed"),
        Err(error) => tracing::warn!(%error, "could not remove expired sessions"),
    }
    ctx.sign_in_limiter.forget_idle();
}
