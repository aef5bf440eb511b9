//! The chat destinations `/user/{id}` and `/group/{id}`: who may use them,
//! how a message is sequenced and stored, and how it reaches every device;
//! plus system events (friend and group changes) and presence.
//!
//! A `kind:message` SEND is appended to its conversation's log (which
//! assigns the contiguous `seq`) and only then delivered, under a
//! per-conversation lock so every subscriber sees seq order. Typing and
//! presence are live only and never stored.

pub mod feed;
mod hub;
pub mod ids;
mod rules;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use herald_protocol::Headers;
use herald_storage::{
    Directory, GroupId, MessageLog, NewMessage, StoreError, StoredMessage, UserId,
};

use crate::auth::Principal;
use crate::config::Config;
use crate::delivery::{Message, SessionHandle};
pub use hub::Channel;
use hub::Hub;
pub use ids::{now_ms, Conversation, Snowflake};

/// Why a chat SUBSCRIBE or SEND was refused; the text goes into the ERROR.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// An access rule said no; `rule` names it.
    #[error("refused by rule {rule}: {message}")]
    Refused { rule: &'static str, message: String },
    /// The frame itself is wrong (unknown kind, body too large).
    #[error("{0}")]
    Invalid(String),
    /// The store failed; nothing was accepted.
    #[error("message not accepted: {0}")]
    Store(StoreError),
}

impl ChatError {
    pub fn refused(rule: &'static str, message: impl Into<String>) -> ChatError {
        ChatError::Refused {
            rule,
            message: message.into(),
        }
    }
}

/// What a chat SEND adds to its RECEIPT.
#[derive(Debug, Default)]
pub struct Sent {
    pub receipt_headers: Vec<(&'static str, String)>,
}

pub struct Chat {
    directory: Arc<dyn Directory>,
    log: Arc<dyn MessageLog>,
    hub: Hub,
    ids: Snowflake,
    allow_strangers: bool,
    max_message_bytes: usize,
    typing_per_second: u32,
    /// Per-conversation locks that keep append-then-deliver in seq order.
    /// A std Mutex around the map (held for a lookup); the per-conversation
    /// lock is a tokio Mutex because it is held across the store append.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// (second, count) of typing notifications per user.
    typing: Mutex<HashMap<UserId, (i64, u32)>>,
}

impl Chat {
    pub fn new(
        config: &Config,
        directory: Arc<dyn Directory>,
        log: Arc<dyn MessageLog>,
        node_id: u16,
    ) -> Chat {
        Chat {
            directory,
            log,
            hub: Hub::default(),
            ids: Snowflake::new(node_id),
            allow_strangers: config.auth.allow_strangers,
            max_message_bytes: config.chat.max_message_bytes,
            typing_per_second: config.chat.typing_per_second,
            locks: Mutex::new(HashMap::new()),
            typing: Mutex::new(HashMap::new()),
        }
    }

    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    pub fn log(&self) -> &Arc<dyn MessageLog> {
        &self.log
    }

    /// SUBSCRIBE to `/user/{id}` or `/group/{id}`.
    pub async fn subscribe(
        &self,
        principal: &Principal,
        channel: Channel,
        session: SessionHandle,
        subscription: Arc<str>,
    ) -> Result<(), ChatError> {
        match channel {
            Channel::Inbox(user) => rules::may_subscribe_inbox(principal.user_id, user)?,
            Channel::Group(group) => {
                rules::may_read_group(self.directory.as_ref(), principal.user_id, group).await?;
            }
        }
        self.hub
            .subscribe(channel, principal.user_id, session, subscription);
        Ok(())
    }

    pub fn unsubscribe(&self, channel: Channel, session_id: u64, subscription: &str) {
        self.hub.unsubscribe(channel, session_id, subscription);
    }

    /// A SEND to a chat destination. `headers` are the client's, with the
    /// broker's own already stripped.
    pub async fn send(
        &self,
        principal: &Principal,
        channel: Channel,
        headers: Headers,
        body: Bytes,
    ) -> Result<Sent, ChatError> {
        let me = principal.user_id;
        let conversation = match channel {
            Channel::Inbox(target) => {
                rules::may_message(self.directory.as_ref(), me, target, self.allow_strangers)
                    .await?;
                Conversation::private(me, target)
            }
            Channel::Group(group) => {
                rules::may_send_to_group(self.directory.as_ref(), me, group).await?;
                Conversation::Group(group)
            }
        };
        let kind = headers.get("kind").unwrap_or("message").to_owned();
        match kind.as_str() {
            "message" => {}
            "typing" => {
                if self.typing_allowed(me) {
                    let id = self.ids.next();
                    let message = live_message(channel, conversation, me, id, &headers);
                    self.fan_out(channel, me, &message);
                }
                return Ok(Sent::default());
            }
            other => {
                return Err(ChatError::Invalid(format!(
                    "unsupported kind {other:?}: this broker accepts kind message and typing"
                )))
            }
        }
        if body.len() > self.max_message_bytes {
            return Err(ChatError::Invalid(format!(
                "chat message body is {} bytes; chat.max_message_bytes is {}",
                body.len(),
                self.max_message_bytes
            )));
        }
        let user_headers: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| *name != "kind")
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let stored = self
            .append_and_deliver(conversation, me, "message", user_headers, body, |stored| {
                let message = chat_message(channel, stored);
                self.fan_out(channel, me, &message);
            })
            .await?;
        Ok(Sent {
            receipt_headers: vec![
                ("message-id", stored.message_id.to_string()),
                ("seq", stored.seq.to_string()),
                ("conversation", stored.conversation.clone()),
                ("timestamp", stored.created_at.to_string()),
            ],
        })
    }

    /// Delivers a message of a private chat to both inboxes (so a user's
    /// other devices see their own sends), or of a group to its subscribers.
    fn fan_out(&self, channel: Channel, sender: UserId, message: &Arc<Message>) {
        match channel {
            Channel::Group(_) => {
                self.hub.deliver(channel, message);
            }
            Channel::Inbox(target) => {
                self.hub.deliver(Channel::Inbox(target), message);
                let own = Arc::new(Message {
                    destination: format!("/user/{sender}").into(),
                    message_id: message.message_id.clone(),
                    headers: message.headers.clone(),
                    body: message.body.clone(),
                });
                self.hub.deliver(Channel::Inbox(sender), &own);
            }
        }
    }

    /// Appends under the conversation's lock and runs `deliver` before
    /// releasing it, so deliveries leave in seq order.
    async fn append_and_deliver(
        &self,
        conversation: Conversation,
        sender: UserId,
        kind: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
        deliver: impl FnOnce(&StoredMessage),
    ) -> Result<StoredMessage, ChatError> {
        let id = conversation.id();
        let lock = self.lock_for(&id);
        let guard = lock.lock().await;
        let stored = self
            .log
            .append(NewMessage {
                conversation: id.clone(),
                message_id: self.ids.next(),
                sender,
                kind: kind.to_owned(),
                headers,
                body,
                created_at: now_ms(),
                client_msg_id: None,
                participants: Vec::new(),
                mentions: Vec::new(),
                files: Vec::new(),
            })
            .await?
            .message;
        deliver(&stored);
        drop(guard);
        self.release_lock(&id, lock);
        Ok(stored)
    }

    fn lock_for(&self, conversation: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("poisoned")
            .entry(conversation.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets a conversation's lock once nobody else holds or waits on it.
    fn release_lock(&self, conversation: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self.locks.lock().expect("poisoned");
        // Two references: the map's and ours.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(conversation);
        }
    }

    fn typing_allowed(&self, user: UserId) -> bool {
        let second = now_ms() / 1000;
        let mut typing = self.typing.lock().expect("poisoned");
        if typing.len() > 100_000 {
            typing.retain(|_, (at, _)| *at == second);
        }
        let entry = typing.entry(user).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        entry.1 += 1;
        entry.1 <= self.typing_per_second
    }

    /// Stores a system event in the user's `s{id}` conversation and delivers
    /// it to their inbox: friend requests, group changes and the like, kept
    /// so an offline user sees them later.
    pub async fn notify(
        &self,
        user: UserId,
        kind: &str,
        actor: UserId,
        payload: serde_json::Value,
    ) -> Result<(), StoreError> {
        let body = Bytes::from(payload.to_string());
        let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        let result = self
            .append_and_deliver(
                Conversation::System(user),
                actor,
                kind,
                headers,
                body,
                |stored| {
                    self.hub.deliver(
                        Channel::Inbox(user),
                        &chat_message(Channel::Inbox(user), stored),
                    );
                },
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(ChatError::Store(error)) => Err(error),
            Err(other) => Err(StoreError::Unavailable(other.to_string())),
        }
    }

    /// [`Chat::notify`] for every member of a group (optionally but one).
    pub async fn notify_members(
        &self,
        group: GroupId,
        kind: &str,
        actor: UserId,
        payload: serde_json::Value,
        also: &[UserId],
    ) -> Result<(), StoreError> {
        let mut members = self.directory.member_ids(group).await?;
        members.extend_from_slice(also);
        members.sort_unstable();
        members.dedup();
        for member in members {
            self.notify(member, kind, actor, payload.clone()).await?;
        }
        Ok(())
    }

    pub fn drop_group_member(&self, group: GroupId, user: UserId) {
        self.hub.drop_group_member(group, user);
    }

    pub fn drop_group(&self, group: GroupId) {
        self.hub.drop_group(group);
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.hub.is_online(user)
    }

    /// A session of `user` opened: when it is their first, their friends and
    /// fellow group members hear `kind:presence`.
    pub async fn session_started(&self, user: UserId) {
        if self.hub.session_started(user) {
            self.announce_presence(user, true).await;
        }
    }

    pub async fn session_ended(&self, user: UserId) {
        if self.hub.session_ended(user) {
            self.announce_presence(user, false).await;
        }
    }

    async fn announce_presence(&self, user: UserId, online: bool) {
        let audience = match self.presence_audience(user).await {
            Ok(audience) => audience,
            Err(error) => {
                tracing::warn!(%error, user, "presence not announced");
                return;
            }
        };
        let mut headers = Headers::with_capacity(4);
        headers.push("kind", "presence");
        headers.push("sender", user.to_string());
        headers.push("content-type", "application/json");
        let body = Bytes::from(serde_json::json!({ "user": user, "online": online }).to_string());
        for watcher in audience {
            let message = Arc::new(Message {
                destination: format!("/user/{watcher}").into(),
                message_id: self.ids.next().to_string().into(),
                headers: headers.clone(),
                body: body.clone(),
            });
            self.hub.deliver(Channel::Inbox(watcher), &message);
        }
    }

    /// Friends and fellow group members who are online now.
    pub async fn presence_audience(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let mut audience = self.directory.friend_ids(user).await?;
        for (group, _) in self.directory.user_groups(user).await? {
            audience.extend(self.directory.member_ids(group.id).await?);
        }
        audience.sort_unstable();
        audience.dedup();
        audience.retain(|&other| other != user && self.hub.is_online(other));
        Ok(audience)
    }
}

/// The MESSAGE for a stored chat message or system event.
fn chat_message(channel: Channel, stored: &StoredMessage) -> Arc<Message> {
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
    })
}

/// The MESSAGE for a live-only notification (typing).
fn live_message(
    channel: Channel,
    conversation: Conversation,
    sender: UserId,
    id: i64,
    headers: &Headers,
) -> Arc<Message> {
    let mut out = Headers::with_capacity(4);
    out.push("conversation", conversation.id());
    out.push("sender", sender.to_string());
    out.push("timestamp", now_ms().to_string());
    out.push("kind", "typing");
    for (name, value) in headers.iter().filter(|(name, _)| *name != "kind") {
        out.push(name, value);
    }
    Arc::new(Message {
        destination: destination(channel).into(),
        message_id: id.to_string().into(),
        headers: out,
        body: Bytes::new(),
    })
}

fn destination(channel: Channel) -> String {
    match channel {
        Channel::Inbox(user) => format!("/user/{user}"),
        Channel::Group(group) => format!("/group/{group}"),
    }
}
