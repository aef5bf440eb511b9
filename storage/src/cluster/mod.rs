//! What the nodes of a cluster share besides the database: a message bus
//! (one pub/sub channel per destination with local subscribers), presence,
//! and rate-limit counters. Redis backs all three; a single node needs
//! none of it and runs with its in-process delivery alone.
//!
//! The database stays the truth: the bus is a fast path whose losses show
//! up as seq gaps that the broker repairs from the store, and
//! [`BusEvent::Reconnected`] tells it when to look for what it missed.

mod redis;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

pub use self::redis::RedisCluster;
use crate::{StoreError, UserId};

/// What the bus hands to the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusEvent {
    /// A payload published on a channel this node listens to (by any node,
    /// itself included: the broker skips its own by their origin).
    Message { channel: String, payload: Bytes },
    /// The bus connection was lost and is back, listening again: messages
    /// published meanwhile were missed and must be read from the store.
    Reconnected,
}

/// Pub/sub between nodes.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes to every node listening on `channel`. An error means this
    /// publish was lost (the message is in the store all the same).
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), StoreError>;

    /// Publishes `(channel, payload)` pairs in this order, in one round
    /// trip: a node publishes through one ordered queue, so that messages
    /// from one publisher reach the other nodes in the order it sent them.
    /// An error means some or all of them were lost.
    async fn publish_many(&self, messages: &[(String, Bytes)]) -> Result<(), StoreError>;

    /// Adds one listener to `channel`; the node subscribes on the first.
    fn listen(&self, channel: &str);

    /// Removes one listener; the node unsubscribes after the last.
    fn unlisten(&self, channel: &str);

    /// The stream of events; only the first call gets it.
    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<BusEvent>>;
}

/// Presence and rate limits shared by every node.
#[async_trait]
pub trait Shared: Send + Sync + 'static {
    /// `user` has at least one session on `node`; refreshed by
    /// [`Shared::refresh_presence`] so a dead node's entries expire.
    async fn presence_up(&self, user: UserId, node: u16) -> Result<(), StoreError>;

    /// `user` has no session left on `node`.
    async fn presence_down(&self, user: UserId, node: u16) -> Result<(), StoreError>;

    /// Re-announces `users` as online on `node` (the node's heartbeat).
    async fn refresh_presence(&self, node: u16, users: &[UserId]) -> Result<(), StoreError>;

    /// Which of `users` are online on any live node.
    async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>, StoreError>;

    /// The users of nodes that stopped refreshing their presence (killed,
    /// cut off) without taking it down: each dead node's are handed to
    /// exactly one live node, `node`, which tells their friends they left.
    /// Called on every heartbeat.
    async fn reap_dead_nodes(&self, node: u16) -> Result<Vec<UserId>, StoreError>;

    /// Whether the shared server answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Counts one event under `key` in the current second; false when
    /// there were already `limit` (over the limit).
    async fn rate(&self, key: &str, limit: u32) -> Result<bool, StoreError>;
}
