//! Herald's chat history: every stored message of every conversation, each
//! with its place (`seq`) in the conversation.
//!
//! The [`MessageLog`] trait is what the chat layer calls to persist a
//! `kind:message` SEND (and stored system events) before the sender's
//! RECEIPT, and to read history for replay and for the API. The store
//! assigns `seq`; the broker assigns `message_id` (Snowflake) and the time.
//! This module must not decide who may read a conversation: the broker
//! checks that before calling.

use async_trait::async_trait;
use bytes::Bytes;

use crate::directory::UserId;
use crate::StoreError;

/// A message to store. Conversation ids are `u{a}-{b}` (a < b) for a
/// private chat, `g{id}` for a group, `s{id}` for a user's system events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub conversation: String,
    /// The broker's global id (Snowflake); unique across all conversations.
    pub message_id: i64,
    pub sender: UserId,
    /// The SEND's `kind` (`message`, or a system event's kind).
    pub kind: String,
    /// The headers MESSAGE frames for it will carry, in order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Unix milliseconds, as the broker stamped it.
    pub created_at: i64,
}

/// A stored message: what was given, and its place in the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub conversation: String,
    /// 1 for the conversation's first message, then one more for each.
    pub seq: i64,
    pub message_id: i64,
    pub sender: UserId,
    pub kind: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub created_at: i64,
}

/// The durable log of chat messages, one sequence per conversation.
/// Implementations group-commit: concurrent appends share transactions, so
/// durability does not cap throughput.
#[async_trait]
pub trait MessageLog: Send + Sync + 'static {
    /// Stores a message and gives it the conversation's next seq: one more
    /// than the last, 1 for the first, with no gap and no repeat even when
    /// several broker processes append to one database at once. Returns
    /// only once the message would survive a crash (`kill -9`).
    /// `Conflict` when `message_id` is already stored.
    async fn append(&self, message: NewMessage) -> Result<StoredMessage, StoreError>;

    /// Up to `limit` messages with `seq > after_seq`, ascending: replay and
    /// gap filling.
    async fn after(
        &self,
        conversation: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// The `limit` newest messages with `seq < before_seq`, ascending:
    /// scroll-back (`i64::MAX` for the newest page).
    async fn before(
        &self,
        conversation: &str,
        before_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// The conversation's highest seq; 0 when it has no message yet.
    async fn last_seq(&self, conversation: &str) -> Result<i64, StoreError>;
}
