//! The durable side of `/queue/{name}`: messages kept until acknowledged.
//!
//! The broker keeps each queue's ready list and leases in memory and calls
//! this store so that they survive a crash: `enqueue` before the sender's
//! RECEIPT, `lease` when a consumer is handed a message, `requeue` when it
//! gives it back, `ack` when it is done. After a restart `pending` returns
//! what was never acknowledged, and leased-before messages come back flagged
//! as redelivered.

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
    /// it left). It stays stored; its delivery count is kept. An unknown id
    /// is not an error.
    async fn requeue(&self, id: StoredId) -> Result<(), StoreError>;

    /// Removes the message for good: its consumer acknowledged it. Acking an
    /// unknown or already acknowledged id is not an error (acks repeat).
    async fn ack(&self, id: StoredId) -> Result<(), StoreError>;

    /// Every message not yet acknowledged, in enqueue order, for loading the
    /// queues at start-up.
    async fn pending(&self) -> Result<Vec<QueuedMessage>, StoreError>;

    /// Finishes in-flight writes; later calls fail with [`StoreError::Closed`].
    /// Calling it again does nothing more.
    async fn close(&self);
}
