//! Operator endpoints, for the usernames in `auth.admins` only.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Authenticated, Query};
use crate::server::http::AppState;

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    after_id: i64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// Messages given up on after too many unacknowledged deliveries.
pub async fn dead_letters(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Query(page): Query<Page>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !state
        .broker
        .config
        .auth
        .admins
        .iter()
        .any(|admin| admin == &me.username)
    {
        return Err(ApiError::forbidden("admins only (auth.admins in config)"));
    }
    let letters = state
        .broker
        .chat()
        .dead_letters()
        .dead_letters(page.limit.clamp(1, 1000), page.after_id)
        .await?;
    let entries: Vec<_> = letters
        .into_iter()
        .map(|(id, letter)| {
            json!({
                "id": id,
                "user": letter.user,
                "device": letter.device,
                "conversation": letter.conversation,
                "seq": letter.seq,
                "message_id": letter.message_id.to_string(),
                "attempts": letter.attempts,
                "reason": letter.reason,
                "at": letter.at,
            })
        })
        .collect();
    Ok(Json(json!(entries)))
}
