//! The durable side of `/queue/{name}`: messages kept until acknowledged.
//!
//! A single broker keeps each queue's ready list and leases in memory and
//! calls this store so that they survive a crash: `enqueue` before the
//! sender's RECEIPT, `lease` when a consumer is handed a message, `requeue`
//! when it gives it back, `ack` when it is done. After a restart `pending`
//! returns what was never acknowledged, and leased-before messages come back
//! flagged as redelivered.
//!
//! The nodes of a cluster share one store and must not each load (and
//! deliver) everything, so there a node takes messages by *claiming* them:
//! `claim` marks up to N of a queue's free messages as the node's until a
//! lease runs out, `renew` extends the leases of everything the node holds
//! while it lives, `requeue` (NACK, a consumer gone) frees a message for any
//! node, and a message whose lease ran out (its node died) is free again.
//! A claim is atomic: two nodes never hold the same message at once.

pub(crate) mod sql;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::StoreError;

/// A message's identity in the store: increasing in enqueue order and never
/// reused, not even after the newest message was acknowledged and the store
/// reopened.
pub type StoredId = i64;

/// A queued message as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: StoredId,
    pub queue: String,
    /// The headers the MESSAGE frame will carry (user headers, content-type,
    /// the broker's message-id), in order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// How many times it was handed to a consumer; more than zero means the
    /// next delivery carries `redelivered:true`.
    pub deliveries: u32,
}

/// Durable storage for queue messages. Implementations group-commit: many
/// concurrent `enqueue` calls share one transaction, so durability does not
/// cap throughput.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Stores a message durably; returns only once it would survive a crash
    /// of the process (`kill -9`).
    async fn enqueue(
        &self,
        queue: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<StoredId, StoreError>;

    /// Records that the message was handed to a consumer (its delivery count
    /// goes up by one). An unknown id (already acknowledged) changes nothing
    /// and is not an error.
    async fn lease(&self, id: StoredId) -> Result<(), StoreError>;

    /// Records that the consumer gave the message back unprocessed (NACK or
    /// it left). It stays stored; its delivery count is kept; a claim on it
    /// ends, so any node may claim it. An unknown id is not an error.
    async fn requeue(&self, id: StoredId) -> Result<(), StoreError>;

    /// Removes the message for good: its consumer acknowledged it. Acking an
    /// unknown or already acknowledged id is not an error (acks repeat).
    async fn ack(&self, id: StoredId) -> Result<(), StoreError>;

    /// Every message not yet acknowledged, in enqueue order, for loading the
    /// queues at start-up (of a single node: a cluster's nodes `claim`).
    async fn pending(&self) -> Result<Vec<QueuedMessage>, StoreError>;

    /// Claims up to `limit` of `queue`'s free messages for `owner` (a node
    /// id) until `lease` from now, oldest first, and returns them in id
    /// order. Free means unclaimed, given back with `requeue`, or claimed
    /// under a lease that has run out. Atomic: concurrent claims, from this
    /// process or another on the same store, never return one message
    /// twice while its lease runs. Durable before it returns.
    async fn claim(
        &self,
        queue: &str,
        owner: u16,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedMessage>, StoreError>;

    /// Extends the lease of every message `owner` holds to `lease` from
    /// now; returns how many it holds. A node that stops renewing (it died)
    /// loses its messages to other nodes once their leases run out.
    async fn renew(&self, owner: u16, lease: Duration) -> Result<u64, StoreError>;

    /// Frees every message `owner` holds, as `requeue` does one: for a node
    /// starting again under the same id (what its previous life held was
    /// never acknowledged) and for one shutting down. Returns how many.
    async fn release_owner(&self, owner: u16) -> Result<u64, StoreError>;

    /// Finishes in-flight writes; later calls fail with [`StoreError::Closed`].
    /// Calling it again does nothing more.
    async fn close(&self);
}
