//! The caller's kept system events (friend and group changes, conversation
//! `s{id}`), for a client that was offline when they happened.

use super::Query;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Authenticated};
use crate::chat::Conversation;
use crate::server::http::AppState;

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    after_seq: i64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

pub async fn list(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Query(page): Query<Page>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let conversation = Conversation::System(me.user_id).id();
    let stored = state
        .broker
        .chat()
        .log()
        .after(
            &conversation,
            page.after_seq.max(0),
            page.limit.clamp(1, 500),
        )
        .await?;
    let events: Vec<_> = stored
        .into_iter()
        .map(|event| {
            let payload: serde_json::Value =
                serde_json::from_slice(&event.body).unwrap_or(serde_json::Value::Null);
            json!({
                "seq": event.seq,
                "kind": event.kind,
                "sender": event.sender,
                "timestamp": event.created_at,
                "payload": payload,
            })
        })
        .collect();
    Ok(Json(
        json!({ "conversation": conversation, "events": events }),
    ))
}
