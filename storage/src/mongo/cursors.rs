//! [`Cursors`] on MongoDB: one small collection per kind of position
//! (`devices`, `delivered_cursors`, `read_cursors`, `hidden_messages`),
//! each keyed by a unique index. Cursors only move forward: delivered ones
//! with `$max`, read ones with an update conditional on the cursor being
//! lower (which also says whether it moved). Mentions are read from the
//! message documents, where appends put them and recall erases them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

use super::documents::{int, text};
use super::error::is_duplicate_key;
use super::messages::MESSAGES;
use super::MongoDatabase;
use crate::common::unix_millis;
use crate::cursors::count_at_or_past;
use crate::{Cursors, StoreError, UserId};

pub(super) const DEVICES: &str = "devices";
pub(super) const DELIVERED: &str = "delivered_cursors";
pub(super) const READ: &str = "read_cursors";
pub(super) const HIDDEN: &str = "hidden_messages";

/// A handle to Herald's cursors in MongoDB. Clones share one connection.
#[derive(Clone, Debug)]
pub struct MongoCursors {
    database: MongoDatabase,
}

impl MongoCursors {
    pub(super) fn new(database: MongoDatabase) -> Self {
        Self { database }
    }

    async fn all(&self, collection: &str, filter: Document) -> Result<Vec<Document>, StoreError> {
        Ok(self
            .database
            .collection(collection)
            .find(filter)
            .await?
            .try_collect()
            .await?)
    }

    /// `(conversation, seq)` of each cursor `filter` finds, by conversation.
    async fn positions(
        &self,
        collection: &str,
        filter: Document,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut positions = self
            .all(collection, filter)
            .await?
            .iter()
            .map(|cursor| Ok((text(cursor, "conversation")?, int(cursor, "seq")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        positions.sort();
        Ok(positions)
    }

    /// The `seq` of the first cursor `filter` finds (in `sort` order); 0
    /// when there is none.
    async fn seq(
        &self,
        collection: &str,
        filter: Document,
        sort: Document,
    ) -> Result<i64, StoreError> {
        let found = self
            .database
            .collection(collection)
            .find_one(filter)
            .sort(sort)
            .await?;
        found.map_or(Ok(0), |cursor| int(&cursor, "seq"))
    }

    /// Inserts `document`; false when a unique index says it is there.
    async fn insert_new(&self, collection: &str, document: Document) -> Result<bool, StoreError> {
        match self
            .database
            .collection(collection)
            .insert_one(document)
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if is_duplicate_key(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Raises the read cursor to `seq` if it is lower; true when it moved.
    async fn raise_read(
        &self,
        user: UserId,
        conversation: &str,
        seq: i64,
    ) -> Result<bool, StoreError> {
        let lower = doc! { "user": user, "conversation": conversation, "seq": { "$lt": seq } };
        let raised = self
            .database
            .collection(READ)
            .update_one(lower, doc! { "$set": { "seq": seq } })
            .await?;
        Ok(raised.modified_count == 1)
    }
}

#[async_trait]
impl Cursors for MongoCursors {
    async fn register_device(&self, user: UserId, device: &str) -> Result<bool, StoreError> {
        let _permit = self.database.enter().await?;
        let seen = doc! { "user": user, "device": device, "first_seen": unix_millis() };
        self.insert_new(DEVICES, seen).await
    }

    async fn delivered(
        &self,
        user: UserId,
        device: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let _permit = self.database.enter().await?;
        self.positions(DELIVERED, doc! { "user": user, "device": device })
            .await
    }

    async fn advance_delivered(
        &self,
        user: UserId,
        device: &str,
        conversation: &str,
        seq: i64,
    ) -> Result<(), StoreError> {
        if seq <= 0 {
            return Ok(());
        }
        let _permit = self.database.enter().await?;
        let cursors = self.database.collection(DELIVERED);
        let filter = doc! { "user": user, "device": device, "conversation": conversation };
        let raise = doc! { "$max": { "seq": seq } };
        match cursors
            .update_one(filter.clone(), raise.clone())
            .upsert(true)
            .await
        {
            // Two first advances raced to insert the cursor: it is there
            // now, so raise it.
            Err(error) if is_duplicate_key(&error) => {
                cursors.update_one(filter, raise).await?;
                Ok(())
            }
            result => result.map(drop).map_err(StoreError::from),
        }
    }

    async fn delivered_by_user(&self, user: UserId, conversation: &str) -> Result<i64, StoreError> {
        let _permit = self.database.enter().await?;
        let filter = doc! { "user": user, "conversation": conversation };
        self.seq(DELIVERED, filter, doc! { "seq": -1 }).await
    }

    async fn read(&self, user: UserId, conversation: &str) -> Result<i64, StoreError> {
        let _permit = self.database.enter().await?;
        let filter = doc! { "user": user, "conversation": conversation };
        self.seq(READ, filter, doc! { "seq": -1 }).await
    }

    async fn advance_read(
        &self,
        user: UserId,
        conversation: &str,
        seq: i64,
    ) -> Result<bool, StoreError> {
        if seq <= 0 {
            return Ok(false);
        }
        let _permit = self.database.enter().await?;
        if self.raise_read(user, conversation, seq).await? {
            return Ok(true);
        }
        let first = doc! { "user": user, "conversation": conversation, "seq": seq };
        if self.insert_new(READ, first).await? {
            return Ok(true);
        }
        // The cursor exists: at or past `seq` already, or just inserted
        // lower by a concurrent advance, which this one now passes.
        self.raise_read(user, conversation, seq).await
    }

    async fn read_cursors(&self, user: UserId) -> Result<Vec<(String, i64)>, StoreError> {
        let _permit = self.database.enter().await?;
        self.positions(READ, doc! { "user": user }).await
    }

    async fn read_counts(
        &self,
        conversation: &str,
        seqs: &[i64],
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let Some(&lowest) = seqs.iter().min() else {
            return Ok(Vec::new());
        };
        let _permit = self.database.enter().await?;
        // One read of the cursors at or past the lowest seq asked for,
        // counted here: a page of history costs one query.
        let filter = doc! { "conversation": conversation, "seq": { "$gte": lowest } };
        let mut cursors = self
            .all(READ, filter)
            .await?
            .iter()
            .map(|cursor| int(cursor, "seq"))
            .collect::<Result<Vec<_>, _>>()?;
        cursors.sort_unstable();
        Ok(count_at_or_past(&cursors, seqs))
    }

    async fn mention_counts(&self, user: UserId) -> Result<Vec<(String, u64)>, StoreError> {
        let _permit = self.database.enter().await?;
        let read: BTreeMap<String, i64> = self
            .positions(READ, doc! { "user": user })
            .await?
            .into_iter()
            .collect();
        // `$all` rather than plain equality on the array: the test server
        // misreads equality on an indexed array field.
        let mentioning = doc! { "mentions": { "$all": [user] } };
        let mentioned: Vec<Document> = self
            .database
            .collection(MESSAGES)
            .find(mentioning)
            .projection(doc! { "conversation": 1, "seq": 1 })
            .await?
            .try_collect()
            .await?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for message in mentioned {
            let conversation = text(&message, "conversation")?;
            let read_up_to = read.get(&conversation).copied().unwrap_or(0);
            if int(&message, "seq")? > read_up_to {
                *counts.entry(conversation).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    async fn hide(&self, user: UserId, conversation: &str, seq: i64) -> Result<(), StoreError> {
        let _permit = self.database.enter().await?;
        let message = doc! { "conversation": conversation, "seq": seq };
        let messages = self.database.collection(MESSAGES);
        let exists = messages.find_one(message).projection(doc! { "_id": 1 });
        if exists.await?.is_none() {
            return Err(StoreError::NotFound(format!(
                "no message {conversation}#{seq}"
            )));
        }
        let mark = doc! { "user": user, "conversation": conversation, "seq": seq };
        self.insert_new(HIDDEN, mark).await.map(drop)
    }

    async fn hidden(
        &self,
        user: UserId,
        conversation: &str,
        from_seq: i64,
        to_seq: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let _permit = self.database.enter().await?;
        let filter = doc! {
            "user": user,
            "conversation": conversation,
            "seq": { "$gte": from_seq, "$lte": to_seq },
        };
        let mut seqs = self
            .all(HIDDEN, filter)
            .await?
            .iter()
            .map(|mark| int(mark, "seq"))
            .collect::<Result<Vec<_>, _>>()?;
        seqs.sort_unstable();
        Ok(seqs)
    }
}
