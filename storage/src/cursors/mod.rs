//! Where each reader is in each conversation: delivered cursors per device,
//! read cursors per user, mentions still unread, and messages a user hid.
//!
//! The chat layer advances delivered cursors on ACKs (or socket writes
//! under `ack:auto`), replays from them on SUBSCRIBE, advances read
//! cursors on `kind:read`, and reads them back for unread and read counts.
//! Cursors only move forward, so ACKs and reads that arrive late or twice
//! never undo progress. This module must not decide who may read a
//! conversation: the broker checks that before calling.

use async_trait::async_trait;

use crate::directory::UserId;
use crate::messages::not_implemented;
use crate::StoreError;

/// Per-reader positions in conversations. Writes group-commit with every
/// other write of the backend and return once durable.
#[async_trait]
pub trait Cursors: Send + Sync + 'static {
    /// Records that `device` of `user` connected; true the first time it
    /// is seen (the broker then sends it only the newest messages).
    async fn register_device(&self, user: UserId, device: &str) -> Result<bool, StoreError> {
        let _ = (user, device);
        Err(not_implemented())
    }

    /// Every delivered cursor of one device: `(conversation, seq)`, meaning
    /// everything at or below `seq` reached that device. Conversations it
    /// never got anything from are absent (cursor 0).
    async fn delivered(
        &self,
        user: UserId,
        device: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let _ = (user, device);
        Err(not_implemented())
    }

    /// Moves the device's delivered cursor up to `seq`; a lower or equal
    /// `seq` changes nothing.
    async fn advance_delivered(
        &self,
        user: UserId,
        device: &str,
        conversation: &str,
        seq: i64,
    ) -> Result<(), StoreError> {
        let _ = (user, device, conversation, seq);
        Err(not_implemented())
    }

    /// The highest delivered cursor over all of `user`'s devices (0 when
    /// none): what the sender hears as "delivered".
    async fn delivered_by_user(&self, user: UserId, conversation: &str) -> Result<i64, StoreError> {
        let _ = (user, conversation);
        Err(not_implemented())
    }

    /// `user`'s read cursor in `conversation`: everything at or below it is
    /// read; 0 when nothing is.
    async fn read(&self, user: UserId, conversation: &str) -> Result<i64, StoreError> {
        let _ = (user, conversation);
        Err(not_implemented())
    }

    /// Moves `user`'s read cursor up to `seq`. True when it moved (so the
    /// broker tells the sender); false when it was already there or beyond.
    async fn advance_read(
        &self,
        user: UserId,
        conversation: &str,
        seq: i64,
    ) -> Result<bool, StoreError> {
        let _ = (user, conversation, seq);
        Err(not_implemented())
    }

    /// Every read cursor of `user`: `(conversation, seq)`.
    async fn read_cursors(&self, user: UserId) -> Result<Vec<(String, i64)>, StoreError> {
        let _ = user;
        Err(not_implemented())
    }

    /// For each of `seqs`, how many users' read cursors in `conversation`
    /// are at or past it: `(seq, count)` in the order given. Group read
    /// counts; whether the sender counts is the broker's business (it may
    /// subtract one).
    async fn read_counts(
        &self,
        conversation: &str,
        seqs: &[i64],
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let _ = (conversation, seqs);
        Err(not_implemented())
    }

    /// Per conversation, how many messages mentioning `user` lie above
    /// their read cursor (conversations with none are absent). Mentions
    /// come from appends (`NewMessage::mentions`); recall removes them.
    async fn mention_counts(&self, user: UserId) -> Result<Vec<(String, u64)>, StoreError> {
        let _ = user;
        Err(not_implemented())
    }

    /// Hides the message at `seq` from `user` alone (delete-for-me).
    /// Hiding it again changes nothing.
    async fn hide(&self, user: UserId, conversation: &str, seq: i64) -> Result<(), StoreError> {
        let _ = (user, conversation, seq);
        Err(not_implemented())
    }

    /// The seqs `user` hid in `conversation` between `from_seq` and
    /// `to_seq` (both included), ascending: filter a page of history.
    async fn hidden(
        &self,
        user: UserId,
        conversation: &str,
        from_seq: i64,
        to_seq: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let _ = (user, conversation, from_seq, to_seq);
        Err(not_implemented())
    }
}
