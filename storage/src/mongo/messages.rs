//! [`MessageLog`] on MongoDB: the `messages` collection, one document per
//! message (see `documents`), with the conversation index beside it (see
//! `heads`).
//!
//! Taking a seq without transactions: an append reads the conversation's
//! highest seq and inserts its message at one more, under the unique
//! `(conversation, seq)` index. When another append (in this process or
//! another) took that seq first, the insert fails with a duplicate key and
//! the append tries again from the new highest seq. A seq is thus only
//! ever written right above one that is stored, so there is no gap, and
//! the index rules out a repeat. A failed insert uses no seq.
//!
//! Dedupe is the same insert: the message carries its `client-msg-id` in
//! a field unique per sender, so of concurrent repeats exactly one insert
//! succeeds, and the others find it and answer with it. There is no
//! separate dedupe record that a crash could leave without its message.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use super::documents::{self, message_document, DEDUPE_ID};
use super::error::is_duplicate_key;
use super::MongoDatabase;
use crate::messages::{distinct, stored};
use crate::{
    Appended, ConversationHead, FileStore, MessageLog, NewMessage, StoreError, StoredMessage,
    UserId, RECALLED_KIND,
};

pub(super) const MESSAGES: &str = "messages";

/// How many times an append retries a seq another append took first
/// before giving up as `Unavailable`: far more than any real contention,
/// so only a server that keeps refusing the insert ends here.
const MAX_ATTEMPTS: u32 = 100_000;

/// A handle to Herald's message log in MongoDB. Clones share one
/// connection.
#[derive(Clone)]
pub struct MongoMessageLog {
    pub(super) database: MongoDatabase,
    /// Where the files that appends reference are recorded and shared.
    files: Arc<dyn FileStore>,
}

impl std::fmt::Debug for MongoMessageLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MongoMessageLog")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// What inserting a message came to.
enum Inserted {
    Stored(i64),
    /// The sender's `client-msg-id` was taken first by this message.
    Duplicate(StoredMessage),
}

impl MongoMessageLog {
    pub(super) fn new(database: MongoDatabase, files: Arc<dyn FileStore>) -> Self {
        Self { database, files }
    }

    /// The message `sender` stored under `client_msg_id`, while its dedupe
    /// window lasts.
    async fn duplicate_of(
        &self,
        message: &NewMessage,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let Some(client_msg_id) = &message.client_msg_id else {
            return Ok(None);
        };
        let filter = doc! { "sender": message.sender, DEDUPE_ID: client_msg_id };
        let found = self.database.collection(MESSAGES).find_one(filter).await?;
        found.as_ref().map(documents::message).transpose()
    }

    /// Shares the message's files with its conversation, before the
    /// message is stored, so that no stored message points at a file its
    /// readers may not fetch. Every file is checked first, so an unknown
    /// one (`NotFound`) shares nothing. A crash after sharing leaves a file
    /// shared that its uploader was sending there anyway.
    async fn share_files(&self, message: &NewMessage) -> Result<(), StoreError> {
        let files = distinct(&message.files);
        for file in &files {
            if self.files.file(file).await?.is_none() {
                return Err(StoreError::NotFound(format!("no file {file}")));
            }
        }
        for file in &files {
            self.files.share_file(file, &message.conversation).await?;
        }
        Ok(())
    }

    /// Inserts the message at the conversation's next seq (see the module
    /// docs).
    async fn insert(&self, message: &NewMessage) -> Result<Inserted, StoreError> {
        let messages = self.database.collection(MESSAGES);
        let mut document = message_document(message, 0);
        let mut turn = self.database.seq_turns().take(&message.conversation).await;
        for _ in 0..MAX_ATTEMPTS {
            let last = match turn.last() {
                Some(last) => last,
                None => self.highest_seq(&message.conversation).await?,
            };
            let seq = last + 1;
            document.insert("seq", seq);
            let error = match messages.insert_one(&document).await {
                Ok(_) => {
                    turn.set_last(Some(seq));
                    return Ok(Inserted::Stored(seq));
                }
                Err(error) if is_duplicate_key(&error) => error,
                Err(error) => return Err(error.into()),
            };
            // Whatever the clash, read the conversation's last seq anew.
            turn.set_last(None);
            if let Some(first) = self.duplicate_of(message).await? {
                return Ok(Inserted::Duplicate(first));
            }
            let same_id = doc! { "_id": message.message_id };
            if messages.find_one(same_id).await?.is_some() {
                return Err(StoreError::Conflict(error.to_string()));
            }
            // Another append took `seq` first: go on from there.
        }
        Err(StoreError::Unavailable(format!(
            "no free seq in {} after {MAX_ATTEMPTS} attempts",
            message.conversation
        )))
    }

    async fn append_message(&self, message: NewMessage) -> Result<Appended, StoreError> {
        if let Some(first) = self.duplicate_of(&message).await? {
            return Ok(Appended {
                message: first,
                duplicate: true,
            });
        }
        self.share_files(&message).await?;
        self.record_participants(&message.conversation, &message.participants)
            .await?;
        let seq = match self.insert(&message).await? {
            Inserted::Stored(seq) => seq,
            Inserted::Duplicate(first) => {
                return Ok(Appended {
                    message: first,
                    duplicate: true,
                })
            }
        };
        // The message is stored: a summary that fails to rise only lags,
        // and reads make up for that (see `heads`), so the append stands.
        let raised = self
            .record_head(&message.conversation, seq, message.created_at)
            .await;
        if let Err(error) = raised {
            tracing::warn!(conversation = %message.conversation, seq, %error,
                "conversation summary not raised; the next append repairs it");
        }
        Ok(Appended {
            message: stored(message, seq),
            duplicate: false,
        })
    }

    async fn find_one(&self, filter: Document) -> Result<Option<StoredMessage>, StoreError> {
        let found = self.database.collection(MESSAGES).find_one(filter).await?;
        found.as_ref().map(documents::message).transpose()
    }

    /// Up to `limit` messages of `filter` in `seq` order (`1` ascending,
    /// `-1` descending).
    async fn page(
        &self,
        filter: Document,
        order: i32,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        // A limit of 0 means "no limit" to MongoDB.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let found: Vec<Document> = self
            .database
            .collection(MESSAGES)
            .find(filter)
            .sort(doc! { "seq": order })
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        found.iter().map(documents::message).collect()
    }
}

#[async_trait]
impl MessageLog for MongoMessageLog {
    async fn append(&self, message: NewMessage) -> Result<Appended, StoreError> {
        let _permit = self.database.enter().await?;
        self.append_message(message).await
    }

    async fn get(&self, conversation: &str, seq: i64) -> Result<Option<StoredMessage>, StoreError> {
        let _permit = self.database.enter().await?;
        self.find_one(doc! { "conversation": conversation, "seq": seq })
            .await
    }

    async fn recall(&self, conversation: &str, seq: i64) -> Result<StoredMessage, StoreError> {
        let _permit = self.database.enter().await?;
        let filter = doc! { "conversation": conversation, "seq": seq };
        let erase = doc! { "$set": {
            "kind": RECALLED_KIND,
            "headers": Bson::Array(Vec::new()),
            "body": documents::binary(&[]),
            "words": Bson::Array(Vec::new()),
            "mentions": Bson::Array(Vec::new()),
        } };
        let updated = self
            .database
            .collection(MESSAGES)
            .update_one(filter.clone(), erase)
            .await?;
        let recalled = match updated.matched_count {
            0 => None,
            _ => self.find_one(filter).await?,
        };
        recalled.ok_or_else(|| StoreError::NotFound(format!("no message {conversation}#{seq}")))
    }

    async fn search(
        &self,
        conversations: &[String],
        query: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let _permit = self.database.enter().await?;
        self.search_messages(conversations, query, limit).await
    }

    async fn purge_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        let _permit = self.database.enter().await?;
        self.purge_messages(before_ms).await
    }

    async fn purge_dedupe(&self, before_ms: i64) -> Result<u64, StoreError> {
        let _permit = self.database.enter().await?;
        let filter = doc! { "created_at": { "$lt": before_ms }, DEDUPE_ID: { "$exists": true } };
        let forget = doc! { "$unset": { DEDUPE_ID: "" } };
        let updated = self
            .database
            .collection(MESSAGES)
            .update_many(filter, forget)
            .await?;
        Ok(updated.modified_count)
    }

    async fn conversations(&self, user: UserId) -> Result<Vec<ConversationHead>, StoreError> {
        let _permit = self.database.enter().await?;
        self.conversations_of(user).await
    }

    async fn heads(&self, conversations: &[String]) -> Result<Vec<ConversationHead>, StoreError> {
        let _permit = self.database.enter().await?;
        self.heads_of(conversations).await
    }

    async fn after(
        &self,
        conversation: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let _permit = self.database.enter().await?;
        let filter = doc! { "conversation": conversation, "seq": { "$gt": after_seq } };
        self.page(filter, 1, limit).await
    }

    async fn before(
        &self,
        conversation: &str,
        before_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let _permit = self.database.enter().await?;
        let filter = doc! { "conversation": conversation, "seq": { "$lt": before_seq } };
        let mut page = self.page(filter, -1, limit).await?;
        page.reverse();
        Ok(page)
    }

    async fn last_seq(&self, conversation: &str) -> Result<i64, StoreError> {
        let _permit = self.database.enter().await?;
        self.highest_seq(conversation).await
    }
}
