//! The MESSAGE shapes of chat: stored messages (with seq), live notices
//! (typing, presence, read, delivered) that are never stored.

use std::sync::Arc;

use bytes::Bytes;
use herald_protocol::Headers;
use herald_storage::{StoredMessage, UserId};

use super::ids::now_ms;
use super::Channel;
use crate::delivery::Message;

/// `/user/{id}` or `/group/{id}`.
pub fn destination(channel: Channel) -> String {
    match channel {
        Channel::Inbox(user) => format!("/user/{user}"),
        Channel::Group(group) => format!("/group/{group}"),
    }
}

/// The MESSAGE for a stored chat message or system event, as the
/// subscription on `channel` receives it.
pub fn stored_message(channel: Channel, stored: &StoredMessage) -> Arc<Message> {
    let mut headers = Headers::with_capacity(stored.headers.len() + 5);
    headers.push("seq", stored.seq.to_string());
    headers.push("conversation", stored.conversation.clone());
    headers.push("sender", stored.sender.to_string());
    headers.push("timestamp", stored.created_at.to_string());
    headers.push("kind", stored.kind.clone());
    for (name, value) in &stored.headers {
        headers.push(name.clone(), value.clone());
    }
    Arc::new(Message {
        destination: destination(channel).into(),
        message_id: stored.message_id.to_string().into(),
        headers,
        body: stored.body.clone(),
        mentions: mentions_of(&stored.body),
        logged: true,
    })
}

/// A live notice: `kind` plus extra headers, in `conversation` from
/// `sender`. Live notices carry no seq and are never stored.
pub fn notice(
    channel: Channel,
    id: i64,
    conversation: &str,
    sender: UserId,
    kind: &str,
    extra: &[(&str, String)],
    body: Bytes,
) -> Arc<Message> {
    let mut headers = Headers::with_capacity(4 + extra.len());
    headers.push("conversation", conversation);
    headers.push("sender", sender.to_string());
    headers.push("timestamp", now_ms().to_string());
    headers.push("kind", kind);
    for (name, value) in extra {
        headers.push(*name, value.clone());
    }
    if !body.is_empty() {
        headers.push("content-type", "application/json");
    }
    Arc::new(Message {
        destination: destination(channel).into(),
        message_id: id.to_string().into(),
        headers,
        body,
        mentions: Vec::new(),
        logged: false,
    })
}

/// The `mentions` array of a JSON chat body (numbers or numeric strings).
pub fn mentions_of(body: &[u8]) -> Vec<i64> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut mentions: Vec<i64> = value["mentions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            m.as_i64()
                .or_else(|| m.as_str().and_then(|s| s.parse().ok()))
        })
        .collect();
    mentions.sort_unstable();
    mentions.dedup();
    mentions
}

/// File ids a JSON chat body references (`file.id`, or `files[].id`).
pub fn files_of(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut files: Vec<String> = std::iter::once(&value["file"])
        .chain(value["files"].as_array().into_iter().flatten())
        .filter_map(|file| file["id"].as_str().map(str::to_owned))
        .collect();
    files.sort();
    files.dedup();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_files_from_json_bodies() {
        let body =
            br#"{"type":"image","text":"hi @b","mentions":[3,"4",3,"x"],"file":{"id":"f1"}}"#;
        assert_eq!(mentions_of(body), [3, 4]);
        assert_eq!(files_of(body), ["f1"]);
        assert!(mentions_of(b"not json").is_empty());
        assert_eq!(
            files_of(br#"{"files":[{"id":"a"},{"id":"b"}]}"#),
            ["a", "b"]
        );
    }
}
