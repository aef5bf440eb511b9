//! Conversations: my list (last message, unread, mentions, by activity),
//! one conversation's history for scroll-back and gap filling (with the
//! peer's read position, or per-message read counts in groups), and
//! delete-for-me. Participants of a private chat, members of a group, and
//! the owner of a system conversation may read it.

use axum::extract::State;
use axum::http::StatusCode;
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

/// The conversation named by `id`, when `me` takes part in it.
pub async fn participate(state: &AppState, me: i64, id: &str) -> Result<Conversation, ApiError> {
    let conversation = Conversation::parse(id)
        .ok_or_else(|| ApiError::not_found(format!("there is no conversation {id:?}")))?;
    let allowed = match conversation {
        Conversation::Group(group) => state
            .broker
            .chat()
            .directory()
            .member(group, me)
            .await?
            .is_some(),
        other => other.involves(me),
    };
    if allowed {
        Ok(conversation)
    } else {
        Err(ApiError::forbidden(format!(
            "you do not take part in conversation {id}"
        )))
    }
}

pub async fn messages(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let conversation = participate(&state, me.user_id, &id).await?;
    let chat = state.broker.chat();
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
    let hidden = match (stored.first(), stored.last()) {
        (Some(first), Some(last)) => {
            chat.cursors()
                .hidden(me.user_id, &id, first.seq, last.seq)
                .await?
        }
        _ => Vec::new(),
    };
    let visible: Vec<&StoredMessage> = stored
        .iter()
        .filter(|m| hidden.binary_search(&m.seq).is_err())
        .collect();
    let mut messages: Vec<serde_json::Value> = visible.iter().map(|m| message_json(m)).collect();
    let mut answer = json!({ "conversation": id, "last_seq": last_seq });
    answer["read_seq"] = json!(chat.cursors().read(me.user_id, &id).await?);
    match conversation {
        Conversation::Private(a, b) => {
            let peer = if a == me.user_id { b } else { a };
            answer["peer_read_seq"] = json!(chat.cursors().read(peer, &id).await?);
            answer["peer_delivered_seq"] =
                json!(chat.cursors().delivered_by_user(peer, &id).await?);
        }
        Conversation::Group(_) => {
            let seqs: Vec<i64> = visible.iter().map(|m| m.seq).collect();
            let counts = chat.cursors().read_counts(&id, &seqs).await?;
            for (message, (_, count)) in messages.iter_mut().zip(counts) {
                // The sender has read their own message; count the others.
                message["read_count"] = json!(count.saturating_sub(1));
            }
        }
        Conversation::System(_) => {}
    }
    answer["messages"] = json!(messages);
    Ok(Json(answer))
}

/// Delete-for-me: hides one message from the caller's history.
pub async fn hide(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path((id, seq)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    participate(&state, me.user_id, &id).await?;
    state
        .broker
        .chat()
        .cursors()
        .hide(me.user_id, &id, seq)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My conversations, most recent activity first: private chats with the
/// peer's profile, groups with theirs, and my system events; each with its
/// last message, last seq, my read seq, unread and mention counts.
pub async fn list(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let chat = state.broker.chat();
    let directory = chat.directory();
    let mut heads = chat.log().conversations(me.user_id).await?;
    let groups = directory.user_groups(me.user_id).await?;
    let group_ids: Vec<String> = groups
        .iter()
        .map(|(g, _)| Conversation::Group(g.id).id())
        .collect();
    let mut group_heads = chat.log().heads(&group_ids).await?;
    // Groups without any message yet still belong in the list.
    for (group, id) in groups.iter().zip(&group_ids) {
        if !group_heads.iter().any(|h| &h.conversation == id) {
            group_heads.push(herald_storage::ConversationHead {
                conversation: id.clone(),
                last_seq: 0,
                last_message: None,
                updated_at: group.0.created_at,
            });
        }
    }
    heads.extend(group_heads);
    heads.sort_by_key(|head| std::cmp::Reverse(head.updated_at));
    let reads: std::collections::HashMap<String, i64> = chat
        .cursors()
        .read_cursors(me.user_id)
        .await?
        .into_iter()
        .collect();
    let mentions: std::collections::HashMap<String, u64> = chat
        .cursors()
        .mention_counts(me.user_id)
        .await?
        .into_iter()
        .collect();
    let peers: Vec<i64> = heads
        .iter()
        .filter_map(|h| match Conversation::parse(&h.conversation) {
            Some(Conversation::Private(a, b)) => Some(if a == me.user_id { b } else { a }),
            _ => None,
        })
        .collect();
    let users = directory.users(&peers).await?;
    let online = chat.online_for(me.user_id, &peers).await;
    let entries: Vec<_> = heads
        .into_iter()
        .map(|head| {
            let read = reads.get(&head.conversation).copied().unwrap_or(0);
            let mut entry = json!({
                "conversation": head.conversation,
                "last_seq": head.last_seq,
                "read_seq": read,
                "unread": (head.last_seq - read).max(0),
                "mentions": mentions.get(&head.conversation).copied().unwrap_or(0),
                "updated_at": head.updated_at,
                "last_message": head.last_message.as_ref().map(message_json),
            });
            match Conversation::parse(&head.conversation) {
                Some(Conversation::Private(a, b)) => {
                    let peer = if a == me.user_id { b } else { a };
                    entry["type"] = json!("private");
                    entry["peer"] = json!(users.iter().find(|u| u.id == peer));
                    entry["online"] = json!(online.contains(&peer));
                }
                Some(Conversation::Group(id)) => {
                    entry["type"] = json!("group");
                    entry["group"] = json!(groups.iter().find(|(g, _)| g.id == id).map(|(g, _)| g));
                }
                _ => entry["type"] = json!("system"),
            }
            entry
        })
        .collect();
    Ok(Json(json!(entries)))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
    #[serde(default = "default_limit")]
    limit: u32,
}

/// Full-text search over the caller's own conversations.
pub async fn search(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Query(query): Query<SearchQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query.q.trim();
    if q.is_empty() {
        return Err(ApiError::invalid("q must not be empty"));
    }
    if q.chars().count() > 200 {
        return Err(ApiError::invalid("q must be at most 200 characters"));
    }
    let chat = state.broker.chat();
    let mut conversations: Vec<String> = chat
        .log()
        .conversations(me.user_id)
        .await?
        .into_iter()
        .map(|head| head.conversation)
        .filter(|c| c.starts_with('u'))
        .collect();
    for (group, _) in chat.directory().user_groups(me.user_id).await? {
        conversations.push(Conversation::Group(group.id).id());
    }
    let found = chat
        .log()
        .search(&conversations, q, query.limit.clamp(1, 100))
        .await?;
    let results: Vec<_> = found
        .iter()
        .map(|message| {
            let mut entry = message_json(message);
            entry["conversation"] = json!(message.conversation);
            entry
        })
        .collect();
    Ok(Json(json!({ "query": q, "results": results })))
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
        "client_msg_id": message.client_msg_id,
        "headers": headers,
        "body": String::from_utf8_lossy(&message.body),
    })
}
