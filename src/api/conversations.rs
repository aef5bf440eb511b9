//! History of one conversation, for scroll-back and for filling a gap in
//! `seq`: the participants of a private chat, the members of a group, or the
//! owner of a system conversation may read it.

use axum::extract::State;
use axum::Json;
use herald_storage::StoredMessage;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Authenticated, Path, Query};
use crate::chat::Conversation;
use crate::server::http::AppState;

#[derive(Deserialize)]
pub struct Page {
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    50
}

pub async fn messages(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let conversation = Conversation::parse(&id)
        .ok_or_else(|| ApiError::not_found(format!("there is no conversation {id:?}")))?;
    let chat = state.broker.chat();
    let allowed = match conversation {
        Conversation::Group(group) => chat.directory().member(group, me.user_id).await?.is_some(),
        other => other.involves(me.user_id),
    };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "you do not take part in conversation {id}"
        )));
    }
    let limit = page.limit.clamp(1, 500);
    let stored = match (page.after_seq, page.before_seq) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("give before_seq or after_seq, not both"))
        }
        (Some(after), None) => chat.log().after(&id, after.max(0), limit).await?,
        (None, before) => {
            chat.log()
                .before(&id, before.unwrap_or(i64::MAX), limit)
                .await?
        }
    };
    let last_seq = chat.log().last_seq(&id).await?;
    let messages: Vec<_> = stored.iter().map(message_json).collect();
    Ok(Json(
        json!({ "conversation": id, "last_seq": last_seq, "messages": messages }),
    ))
}

/// A stored message as the API shows it. Ids are strings: Snowflakes exceed
/// what JavaScript numbers hold exactly.
pub fn message_json(message: &StoredMessage) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = message
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    json!({
        "message_id": message.message_id.to_string(),
        "seq": message.seq,
        "sender": message.sender,
        "kind": message.kind,
        "timestamp": message.created_at,
        "headers": headers,
        "body": String::from_utf8_lossy(&message.body),
    })
}
