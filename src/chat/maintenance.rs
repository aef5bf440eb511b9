//! Background upkeep of chat storage: dedupe records past their window, and
//! messages past the retention (when one is configured).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{now_ms, Chat};

/// How often upkeep runs; also once right at start-up.
const PERIOD: Duration = Duration::from_secs(600);

/// Runs upkeep until `shutdown`.
pub async fn run(chat: Arc<Chat>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(PERIOD);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => upkeep(&chat).await,
        }
    }
}

/// One round: forget old dedupe records, purge expired messages.
pub async fn upkeep(chat: &Chat) {
    let settings = chat.settings();
    let now = now_ms();
    let dedupe_cutoff = now - settings.dedupe_window_secs.saturating_mul(1000) as i64;
    match chat.log().purge_dedupe(dedupe_cutoff).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "forgot client-msg-ids past the dedupe window"),
        Err(error) => tracing::warn!(%error, "dedupe purge failed"),
    }
    if settings.retention_days > 0 {
        let cutoff = now - settings.retention_days.saturating_mul(86_400_000) as i64;
        match chat.log().purge_before(cutoff).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "purged messages past the retention"),
            Err(error) => tracing::warn!(%error, "retention purge failed"),
        }
    }
}
