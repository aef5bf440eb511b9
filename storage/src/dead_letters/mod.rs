//! Messages Herald gave up delivering to a device after the configured
//! attempts, kept for an operator to look at (an admin endpoint lists
//! them). The message itself stays in the log; a dead letter only says who
//! did not get it and why. This module must not retry deliveries.

pub(crate) mod sql;

use async_trait::async_trait;

use crate::directory::UserId;
use crate::StoreError;

/// One delivery given up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub user: UserId,
    pub device: String,
    pub conversation: String,
    pub seq: i64,
    pub message_id: i64,
    /// How many times it was sent to the device.
    pub attempts: u32,
    /// Why it was given up (`ack timeout`, `nack` ...), for the operator.
    pub reason: String,
    /// Unix milliseconds when it was given up.
    pub at: i64,
}

/// The dead-letter store.
#[async_trait]
pub trait DeadLetters: Send + Sync + 'static {
    /// Records a dead letter durably; returns its id (increasing).
    async fn dead_letter(&self, letter: DeadLetter) -> Result<i64, StoreError>;

    /// Up to `limit` dead letters with an id above `after_id`, oldest
    /// first, with their ids: page with the last id seen (0 to start).
    async fn dead_letters(
        &self,
        limit: u32,
        after_id: i64,
    ) -> Result<Vec<(i64, DeadLetter)>, StoreError>;
}
