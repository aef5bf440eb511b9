//! The conversation index in MongoDB: one document per conversation in
//! `conversations`, `_id` its name, with `participants` (the users whose
//! conversation list shows it), `last_seq` and `updated_at`.
//!
//! An append writes the participants before inserting the message and
//! raises `last_seq` and `updated_at` (`$max`) after it. A crash between
//! the insert and the raise leaves the summary behind the messages, so
//! every read here takes the larger of the summary and the conversation's
//! newest stored message; the next append to the conversation repairs the
//! summary. A crash before the insert leaves participants of a
//! conversation without messages, which no list shows.

use mongodb::bson::{doc, Document};

use super::documents::{self, int, optional_int};
use super::error::is_duplicate_key;
use super::messages::{MongoMessageLog, MESSAGES};
use crate::messages::distinct;
use crate::{ConversationHead, StoreError, UserId};

pub(super) const CONVERSATIONS: &str = "conversations";

impl MongoMessageLog {
    /// Lists `conversation` for `users` (before the message is inserted).
    pub(super) async fn record_participants(
        &self,
        conversation: &str,
        users: &[UserId],
    ) -> Result<(), StoreError> {
        if users.is_empty() {
            return Ok(());
        }
        let update = doc! { "$addToSet": { "participants": { "$each": distinct(users) } } };
        self.upsert_summary(conversation, update).await
    }

    /// Raises the summary to an inserted message at `seq`.
    pub(super) async fn record_head(
        &self,
        conversation: &str,
        seq: i64,
        created_at: i64,
    ) -> Result<(), StoreError> {
        let update = doc! { "$max": { "last_seq": seq, "updated_at": created_at } };
        self.upsert_summary(conversation, update).await
    }

    /// Two upserts that both find no document may both insert one; the
    /// loser's duplicate key means the document is there now, so it runs
    /// once more as a plain update.
    async fn upsert_summary(&self, conversation: &str, update: Document) -> Result<(), StoreError> {
        let summaries = self.database.collection(CONVERSATIONS);
        let filter = doc! { "_id": conversation };
        match summaries
            .update_one(filter.clone(), update.clone())
            .upsert(true)
            .await
        {
            Err(error) if is_duplicate_key(&error) => {
                summaries.update_one(filter, update).await?;
                Ok(())
            }
            result => result.map(drop).map_err(StoreError::from),
        }
    }

    /// The conversation's newest stored message, as stored.
    pub(super) async fn newest(&self, conversation: &str) -> Result<Option<Document>, StoreError> {
        Ok(self
            .database
            .collection(MESSAGES)
            .find_one(doc! { "conversation": conversation })
            .sort(doc! { "seq": -1 })
            .await?)
    }

    /// The highest seq handed out: the summary's, or the newest message's
    /// when the summary lags behind it.
    pub(super) async fn highest_seq(&self, conversation: &str) -> Result<i64, StoreError> {
        let summary = self
            .database
            .collection(CONVERSATIONS)
            .find_one(doc! { "_id": conversation })
            .await?;
        let summarised = match &summary {
            Some(summary) => optional_int(summary, "last_seq")?.unwrap_or(0),
            None => 0,
        };
        let newest = match self.newest(conversation).await? {
            Some(newest) => int(&newest, "seq")?,
            None => 0,
        };
        Ok(summarised.max(newest))
    }

    /// [`MessageLog::heads`](crate::MessageLog::heads).
    pub(super) async fn heads_of(
        &self,
        conversations: &[String],
    ) -> Result<Vec<ConversationHead>, StoreError> {
        let names = distinct(conversations);
        let filter = doc! { "_id": { "$in": &names } };
        let summaries = self.summaries(filter).await?;
        let mut heads = Vec::with_capacity(names.len());
        for name in names {
            let summary = summaries
                .iter()
                .find(|summary| summary.get_str("_id") == Ok(name.as_str()));
            if let Some(head) = self.head(name, summary).await? {
                heads.push(head);
            }
        }
        heads.sort_by(|a, b| (b.updated_at, &a.conversation).cmp(&(a.updated_at, &b.conversation)));
        Ok(heads)
    }

    /// [`MessageLog::conversations`](crate::MessageLog::conversations).
    pub(super) async fn conversations_of(
        &self,
        user: UserId,
    ) -> Result<Vec<ConversationHead>, StoreError> {
        // `$all` rather than plain equality on the array: the test server
        // misreads equality on an indexed array field.
        let filter = doc! { "participants": { "$all": [user] } };
        let names = self
            .summaries(filter)
            .await?
            .iter()
            .map(|summary| documents::text(summary, "_id"))
            .collect::<Result<Vec<_>, _>>()?;
        self.heads_of(&names).await
    }

    async fn summaries(&self, filter: Document) -> Result<Vec<Document>, StoreError> {
        use futures_util::TryStreamExt;
        let found = self.database.collection(CONVERSATIONS).find(filter).await?;
        Ok(found.try_collect().await?)
    }

    /// The head of one conversation from its summary (if any) and its
    /// newest message; `None` when it never had a message.
    async fn head(
        &self,
        conversation: String,
        summary: Option<&Document>,
    ) -> Result<Option<ConversationHead>, StoreError> {
        let (mut last_seq, mut updated_at) = match summary {
            Some(summary) => (
                optional_int(summary, "last_seq")?.unwrap_or(0),
                optional_int(summary, "updated_at")?.unwrap_or(0),
            ),
            None => (0, 0),
        };
        let newest = match self.newest(&conversation).await? {
            Some(newest) => Some(documents::message(&newest)?),
            None => None,
        };
        if let Some(newest) = &newest {
            last_seq = last_seq.max(newest.seq);
            updated_at = updated_at.max(newest.created_at);
        }
        if last_seq == 0 {
            return Ok(None);
        }
        Ok(Some(ConversationHead {
            conversation,
            last_seq,
            // Retention may have taken the message at `last_seq`.
            last_message: newest.filter(|newest| newest.seq == last_seq),
            updated_at,
        }))
    }
}
