//! The chat destinations `/user/{id}` and `/group/{id}`: who may use them,
//! how a message is sequenced and stored, and how it reaches every device;
//! plus system events (friend and group changes), presence, read and
//! delivered states, recall, and where a device resumes.
//!
//! A `kind:message` SEND is appended to its conversation's log (which
//! assigns the contiguous `seq`) and only then delivered, under a
//! per-conversation lock so every subscriber sees seq order. Typing,
//! presence, read and delivered notices are live only and never stored.

pub mod feed;
mod frames;
mod hub;
pub mod ids;
mod limits;
pub mod maintenance;
mod presence;
mod resume;
mod rules;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use herald_storage::{
    Cursors, DeadLetters, Directory, FileStore, GroupId, MessageLog, NewMessage, StoreError,
    StoredMessage, Stores, UserId,
};

use crate::auth::Principal;
use crate::cluster::ClusterLink;
use crate::config::{ChatConfig, Config};
use crate::delivery::{Message, SessionHandle};
use crate::metrics::Metrics;
pub use frames::{destination, stored_message};
pub use hub::Channel;
use hub::Hub;
pub use ids::{now_ms, Conversation, Snowflake};
use limits::RateLimit;
pub use resume::{Device, Start};

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
    cursors: Arc<dyn Cursors>,
    dead_letters: Arc<dyn DeadLetters>,
    files: Arc<dyn FileStore>,
    hub: Hub,
    ids: Snowflake,
    allow_strangers: bool,
    settings: ChatConfig,
    typing: RateLimit,
    sends: RateLimit,
    /// Per-conversation locks that keep append-then-deliver in seq order.
    /// A std Mutex around the map (held for a lookup); the per-conversation
    /// lock is a tokio Mutex because it is held across the store append.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The highest seq announced as delivered per (reader, conversation), so
    /// `kind:delivered` goes out once per advance. A std Mutex: one lookup.
    delivered: Mutex<HashMap<(UserId, String), i64>>,
    /// The other nodes, in cluster mode; set once at start-up.
    cluster: OnceLock<Arc<ClusterLink>>,
    metrics: Arc<Metrics>,
}

impl Chat {
    pub fn new(config: &Config, stores: &Stores, metrics: Arc<Metrics>) -> Chat {
        Chat {
            directory: stores.directory.clone(),
            log: stores.messages.clone(),
            cursors: stores.cursors.clone(),
            dead_letters: stores.dead_letters.clone(),
            files: stores.files.clone(),
            hub: Hub::default(),
            ids: Snowflake::new(config.server.node_id),
            allow_strangers: config.auth.allow_strangers,
            typing: RateLimit::new(config.chat.typing_per_second),
            sends: RateLimit::new(config.chat.sends_per_second),
            settings: config.chat.clone(),
            locks: Mutex::new(HashMap::new()),
            delivered: Mutex::new(HashMap::new()),
            cluster: OnceLock::new(),
            metrics,
        }
    }

    /// Joins a cluster: deliveries also go to the other nodes, presence
    /// and rate limits are shared.
    pub fn join(&self, link: Arc<ClusterLink>) {
        let _ = self.cluster.set(link);
    }

    pub fn cluster(&self) -> Option<&Arc<ClusterLink>> {
        self.cluster.get()
    }

    /// Delivers to this node's subscribers of `channel` and, in a cluster,
    /// publishes to the other nodes'.
    fn deliver(&self, channel: Channel, message: &Arc<Message>) {
        self.hub.deliver(channel, message);
        if let Some(cluster) = self.cluster.get() {
            cluster.publish(bus_channel(channel), message);
        }
    }

    /// A message from another node for this node's subscribers.
    pub fn deliver_remote(&self, channel: Channel, message: &Arc<Message>) {
        self.hub.deliver(channel, message);
    }

    /// Asks every local chat subscription to compare its positions with
    /// the store and fetch what it missed (after a bus outage).
    pub fn resync(&self) {
        let mut headers = herald_protocol::Headers::new();
        headers.push(RESYNC, "1");
        let marker = Arc::new(Message {
            destination: "".into(),
            message_id: "".into(),
            headers,
            body: Bytes::new(),
            mentions: Vec::new(),
            logged: false,
        });
        self.hub.broadcast(&marker);
    }

    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    pub fn log(&self) -> &Arc<dyn MessageLog> {
        &self.log
    }

    pub fn cursors(&self) -> &Arc<dyn Cursors> {
        &self.cursors
    }

    pub fn dead_letters(&self) -> &Arc<dyn DeadLetters> {
        &self.dead_letters
    }

    pub fn settings(&self) -> &ChatConfig {
        &self.settings
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
        if let Some(cluster) = self.cluster.get() {
            cluster.bus.listen(&bus_channel(channel));
        }
        Ok(())
    }

    pub fn unsubscribe(&self, channel: Channel, session_id: u64, subscription: &str) {
        self.hub.unsubscribe(channel, session_id, subscription);
        if let Some(cluster) = self.cluster.get() {
            cluster.bus.unlisten(&bus_channel(channel));
        }
    }

    /// Delivers a message of a private chat to both inboxes (so a user's
    /// other devices see their own sends), or of a group to its subscribers.
    fn fan_out(&self, channel: Channel, sender: UserId, message: &Arc<Message>) {
        match channel {
            Channel::Group(_) => {
                self.deliver(channel, message);
            }
            Channel::Inbox(target) => {
                self.deliver(Channel::Inbox(target), message);
                if target != sender {
                    let own = Arc::new(Message {
                        destination: format!("/user/{sender}").into(),
                        message_id: message.message_id.clone(),
                        headers: message.headers.clone(),
                        body: message.body.clone(),
                        mentions: message.mentions.clone(),
                        logged: message.logged,
                    });
                    self.deliver(Channel::Inbox(sender), &own);
                }
            }
        }
    }

    /// Appends under the conversation's lock and runs `deliver` (for a new
    /// message, not a duplicate) before releasing it, so deliveries leave
    /// in seq order. Returns the stored message and whether it was a
    /// duplicate.
    async fn append_and_deliver(
        &self,
        message: NewMessage,
        deliver: impl FnOnce(&StoredMessage),
    ) -> Result<(StoredMessage, bool), ChatError> {
        let id = message.conversation.clone();
        let lock = self.lock_for(&id);
        let guard = lock.lock().await;
        let started = std::time::Instant::now();
        let appended = self.log.append(message).await?;
        self.metrics.store_write.observe(started.elapsed());
        if !appended.duplicate {
            Metrics::inc(&self.metrics.messages_persisted_total);
            deliver(&appended.message);
        }
        drop(guard);
        self.release_lock(&id, lock);
        Ok((appended.message, appended.duplicate))
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
        let message = NewMessage {
            conversation: Conversation::System(user).id(),
            message_id: self.ids.next(),
            sender: actor,
            kind: kind.to_owned(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: Bytes::from(payload.to_string()),
            created_at: now_ms(),
            client_msg_id: None,
            participants: vec![user],
            mentions: Vec::new(),
            files: Vec::new(),
        };
        let result = self
            .append_and_deliver(message, |stored| {
                self.deliver(
                    Channel::Inbox(user),
                    &stored_message(Channel::Inbox(user), stored),
                );
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(ChatError::Store(error)) => Err(error),
            Err(other) => Err(StoreError::Unavailable(other.to_string())),
        }
    }

    /// [`Chat::notify`] for every member of a group, and for `also`.
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

    /// A reader's device acknowledged everything up to `seq` of a private
    /// conversation: the other side hears `kind:delivered` once per advance.
    pub fn delivered(&self, reader: UserId, conversation: &str, seq: i64) {
        let Some(Conversation::Private(a, b)) = Conversation::parse(conversation) else {
            return;
        };
        let peer = if reader == a { b } else { a };
        {
            let mut delivered = self.delivered.lock().expect("poisoned");
            if delivered.len() > 1_000_000 {
                delivered.clear();
            }
            let entry = delivered
                .entry((reader, conversation.to_owned()))
                .or_insert(0);
            if *entry >= seq {
                return;
            }
            *entry = seq;
        }
        let message = frames::notice(
            Channel::Inbox(peer),
            self.ids.next(),
            conversation,
            reader,
            "delivered",
            &[("seq", seq.to_string())],
            Bytes::new(),
        );
        self.deliver(Channel::Inbox(peer), &message);
    }
}

/// A header only the broker sets on a resync marker (never sent to clients).
pub const RESYNC: &str = "x-herald-resync";

/// The bus channel of a chat destination.
pub fn bus_channel(channel: Channel) -> String {
    match channel {
        Channel::Inbox(user) => format!("u:{user}"),
        Channel::Group(group) => format!("g:{group}"),
    }
}

impl From<StoreError> for ChatError {
    fn from(error: StoreError) -> ChatError {
        ChatError::Store(error)
    }
}
