//! Herald's chat history: every stored message of every conversation, each
//! with its place (`seq`) in the conversation.
//!
//! The [`MessageLog`] trait is what the chat layer calls to persist a
//! `kind:message` SEND (and stored system events) before the sender's
//! RECEIPT, and to read history for replay and for the API. The store
//! assigns `seq`; the broker assigns `message_id` (Snowflake) and the time.
//! This module must not decide who may read a conversation: the broker
//! checks that before calling.
//!
//! Beside the messages themselves the log keeps what must change in the
//! same transaction as an append, so that a crash never leaves them out of
//! step: the dedupe record of a `client-msg-id`, the conversation index
//! (who takes part in which private and system conversation, and when it
//! last changed), the mentions that make up mention counts, the search
//! index and the conversations a file was shared with.

mod search;
pub(crate) mod sql;

use async_trait::async_trait;
use bytes::Bytes;

use crate::directory::UserId;
use crate::StoreError;

pub(crate) use search::{indexed_text, query_words};

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
    /// The SEND's `client-msg-id`: with one, a repeat from the same sender
    /// stores nothing and answers with the first message (see
    /// [`MessageLog::append`]).
    pub client_msg_id: Option<String>,
    /// The users whose conversation index this message updates: both users
    /// of a private chat `u{a}-{b}`, the owner of a system conversation
    /// `s{id}`. Empty for groups, whose members the broker lists through
    /// the directory (see [`MessageLog::heads`]).
    pub participants: Vec<UserId>,
    /// Users the message mentions; each gets a mention counted until their
    /// read cursor passes the message (see `Cursors::mention_counts`).
    pub mentions: Vec<UserId>,
    /// Ids of stored files the message references; each is recorded as
    /// shared with the conversation, so its members may fetch it.
    pub files: Vec<String>,
}

/// What [`MessageLog::append`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The stored message: the new one, or for a duplicate the one stored
    /// first under the same `client_msg_id`.
    pub message: StoredMessage,
    /// True when nothing was stored because the sender's `client_msg_id`
    /// was already used: answer with the same receipt, deliver nothing.
    pub duplicate: bool,
}

/// A conversation's latest state, for conversation lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationHead {
    pub conversation: String,
    /// The highest seq handed out; unread counts are `last_seq` minus the
    /// reader's read cursor.
    pub last_seq: i64,
    /// The message at `last_seq`; `None` once retention purged it.
    pub last_message: Option<StoredMessage>,
    /// Unix milliseconds of the newest append (its `created_at`).
    pub updated_at: i64,
}

/// The kind a recalled message takes; its body and headers are erased.
pub const RECALLED_KIND: &str = "recalled";

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
    /// The sender's `client-msg-id`, when the SEND had one.
    pub client_msg_id: Option<String>,
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
    ///
    /// In the same transaction it records the dedupe record (when
    /// `client_msg_id` is given), the conversation index for
    /// `participants`, the `mentions`, the search entry (for `kind =
    /// "message"`) and the sharing of `files`.
    ///
    /// When `client_msg_id` is given and the sender already stored a
    /// message under it (and [`purge_dedupe`](Self::purge_dedupe) has not
    /// removed the record), nothing is stored, no seq is used, and the
    /// answer is that first message with `duplicate: true`; concurrent
    /// repeats, also from several processes on one database, store exactly
    /// one message.
    ///
    /// Errors: `Conflict` when `message_id` is already stored; `NotFound`
    /// when one of `files` is not a stored file (nothing is stored);
    /// `Rejected` for text the backend cannot keep.
    async fn append(&self, message: NewMessage) -> Result<Appended, StoreError>;

    /// The message at `seq`, if stored (recalled messages included).
    async fn get(&self, conversation: &str, seq: i64) -> Result<Option<StoredMessage>, StoreError>;

    /// Withdraws a message: erases its body, headers, search entry and
    /// mentions, and sets its kind to [`RECALLED_KIND`]; its ids, seq,
    /// sender, time and `client_msg_id` stay, so history keeps its place.
    /// Recalling it again changes nothing. Returns the recalled message;
    /// `NotFound` when there is no message at `seq`. Who may recall, and
    /// until when, is the broker's decision.
    async fn recall(&self, conversation: &str, seq: i64) -> Result<StoredMessage, StoreError>;

    /// Full-text search over the `kind = "message"` messages of
    /// `conversations`, newest first, at most `limit`. What is indexed is
    /// the `"text"` string of a JSON object body, or else the whole body
    /// when it is UTF-8. The query is a list of words, all of which must
    /// occur (case-insensitive, whole words); it is taken literally, so any
    /// text a user types is safe (quotes, `*`, `AND`, `%` ...). A query
    /// with no word finds nothing.
    async fn search(
        &self,
        conversations: &[String],
        query: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Retention: deletes every message created before `before_ms` (unix
    /// milliseconds), with its search entry, mentions, hidden marks and
    /// dedupe record. Seqs are never reused: each conversation goes on
    /// counting from its last seq. Returns how many messages went.
    async fn purge_before(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// Ends the dedupe window for messages created before `before_ms`:
    /// forgets their `client_msg_id`s, so a repeat is stored anew. Returns
    /// how many records went.
    async fn purge_dedupe(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// The private and system conversations `user` takes part in (as named
    /// in `participants` of their appends), newest activity first.
    async fn conversations(&self, user: UserId) -> Result<Vec<ConversationHead>, StoreError>;

    /// The heads of the given conversations that have messages (others
    /// are left out), newest activity first: the broker lists a user's
    /// groups through the directory and asks for them here.
    async fn heads(&self, conversations: &[String]) -> Result<Vec<ConversationHead>, StoreError>;

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

/// Each item once, in order of first appearance.
pub(crate) fn distinct<T: Clone + PartialEq>(items: &[T]) -> Vec<T> {
    let mut seen: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !seen.contains(item) {
            seen.push(item.clone());
        }
    }
    seen
}

/// The stored form of `message` under `seq`.
pub(crate) fn stored(message: NewMessage, seq: i64) -> StoredMessage {
    StoredMessage {
        conversation: message.conversation,
        seq,
        message_id: message.message_id,
        sender: message.sender,
        kind: message.kind,
        headers: message.headers,
        body: message.body,
        created_at: message.created_at,
        client_msg_id: message.client_msg_id,
    }
}
