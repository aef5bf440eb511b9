//! Where each reader is in each conversation: delivered cursors per device,
//! read cursors per user, mentions still unread, and messages a user hid.
//!
//! The chat layer advances delivered cursors on ACKs (or socket writes
//! under `ack:auto`), replays from them on SUBSCRIBE, advances read
//! cursors on `kind:read`, and reads them back for unread and read counts.
//! Cursors only move forward, so ACKs and reads that arrive late or twice
//! never undo progress. This module must not decide who may read a
//! conversation: the broker checks that before calling.

pub(crate) mod sql;

use async_trait::async_trait;

use crate::directory::UserId;
use crate::StoreError;

/// Per-reader positions in conversations. Writes group-commit with every
/// other write of the backend and return once durable.
#[async_trait]
pub trait Cursors: Send + Sync + 'static {
    /// Records that `device` of `user` connected; true the first time it
    /// is seen (the broker then sends it only the newest messages).
    async fn register_device(&self, user: UserId, device: &str) -> Result<bool, StoreError>;

    /// Every delivered cursor of one device: `(conversation, seq)`, meaning
    /// everything at or below `seq` reached that device. Conversations it
    /// never got anything from are absent (cursor 0).
    async fn delivered(&self, user: UserId, device: &str)
        -> Result<Vec<(String, i64)>, StoreError>;

    /// Moves the device's delivered cursor up to `seq`; a lower or equal
    /// `seq` changes nothing.
    async fn advance_delivered(
        &self,
        user: UserId,
        device: &str,
        conversation: &str,
        seq: i64,
    ) -> Result<(), StoreError>;

    /// The highest delivered cursor over all of `user`'s devices (0 when
    /// none): what the sender hears as "delivered".
    async fn delivered_by_user(&self, user: UserId, conversation: &str) -> Result<i64, StoreError>;

    /// `user`'s read cursor in `conversation`: everything at or below it is
    /// read; 0 when nothing is.
    async fn read(&self, user: UserId, conversation: &str) -> Result<i64, StoreError>;

    /// Moves `user`'s read cursor up to `seq`. True when it moved (so the
    /// broker tells the sender); false when it was already there or beyond.
    async fn advance_read(
        &self,
        user: UserId,
        conversation: &str,
        seq: i64,
    ) -> Result<bool, StoreError>;

    /// Every read cursor of `user`: `(conversation, seq)`.
    async fn read_cursors(&self, user: UserId) -> Result<Vec<(String, i64)>, StoreError>;

    /// For each of `seqs`, how many users' read cursors in `conversation`
    /// are at or past it: `(seq, count)` in the order given. Group read
    /// counts; whether the sender counts is the broker's business (it may
    /// subtract one).
    async fn read_counts(
        &self,
        conversation: &str,
        seqs: &[i64],
    ) -> Result<Vec<(i64, u64)>, StoreError>;

    /// Per conversation, how many messages mentioning `user` lie above
    /// their read cursor (conversations with none are absent). Mentions
    /// come from appends (`NewMessage::mentions`); recall removes them.
    async fn mention_counts(&self, user: UserId) -> Result<Vec<(String, u64)>, StoreError>;

    /// Hides the message at `seq` from `user` alone (delete-for-me).
    /// Hiding it again changes nothing; `NotFound` when there is no
    /// message at `seq`. Retention purges the mark with the message.
    async fn hide(&self, user: UserId, conversation: &str, seq: i64) -> Result<(), StoreError>;

    /// The seqs `user` hid in `conversation` between `from_seq` and
    /// `to_seq` (both included), ascending: filter a page of history.
    async fn hidden(
        &self,
        user: UserId,
        conversation: &str,
        from_seq: i64,
        to_seq: i64,
    ) -> Result<Vec<i64>, StoreError>;
}

/// For each of `seqs`, how many of `cursors` (sorted ascending) are at or
/// past it.
pub(crate) fn count_at_or_past(cursors: &[i64], seqs: &[i64]) -> Vec<(i64, u64)> {
    seqs.iter()
        .map(|&seq| {
            let below = cursors.partition_point(|&cursor| cursor < seq);
            (
                seq,
                u64::try_from(cursors.len() - below).unwrap_or_default(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_cursors_at_or_past_each_seq() {
        let counted = super::count_at_or_past(&[2, 5, 5, 9], &[1, 5, 6, 10]);
        assert_eq!(counted, [(1, 4), (5, 3), (6, 1), (10, 0)]);
    }
}
