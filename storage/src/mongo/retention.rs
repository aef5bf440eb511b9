//! Retention on MongoDB: deleting old messages a chunk at a time with what
//! hangs off them. Mentions, search words and the dedupe key go with the
//! message document; hidden marks live apart and are deleted first; the
//! conversation summary is raised to the chunk first, so that seqs go on
//! from where they were even when a conversation loses every message.
//! Steps are ordered so that a crash part-way leaves nothing that the next
//! purge would not find and finish.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use super::cursors::HIDDEN;
use super::documents::{int, text};
use super::messages::{MongoMessageLog, MESSAGES};
use crate::StoreError;

/// How many messages one round deletes: enough to be quick, few enough
/// that one round's requests stay small.
const PURGE_CHUNK: i64 = 1_000;

/// What a chunk holds of one conversation.
#[derive(Default)]
struct Purged {
    seqs: Vec<i64>,
    highest_seq: i64,
    newest_created_at: i64,
}

impl MongoMessageLog {
    /// [`MessageLog::purge_before`](crate::MessageLog::purge_before).
    pub(super) async fn purge_messages(&self, before_ms: i64) -> Result<u64, StoreError> {
        let messages = self.database.collection(MESSAGES);
        let mut purged = 0;
        loop {
            let chunk: Vec<Document> = messages
                .find(doc! { "created_at": { "$lt": before_ms } })
                .projection(doc! { "conversation": 1, "seq": 1, "created_at": 1 })
                .limit(PURGE_CHUNK)
                .await?
                .try_collect()
                .await?;
            if chunk.is_empty() {
                return Ok(purged);
            }
            let (ids, by_conversation) = group(&chunk)?;
            for (conversation, purging) in &by_conversation {
                self.record_head(conversation, purging.highest_seq, purging.newest_created_at)
                    .await?;
                let marks = doc! { "conversation": conversation, "seq": { "$in": &purging.seqs } };
                self.database.collection(HIDDEN).delete_many(marks).await?;
            }
            let deleted = messages.delete_many(doc! { "_id": { "$in": ids } }).await?;
            purged += deleted.deleted_count;
            if i64::try_from(chunk.len()).unwrap_or(i64::MAX) < PURGE_CHUNK {
                return Ok(purged);
            }
        }
    }
}

/// The chunk's message ids, and what it holds of each conversation.
fn group(chunk: &[Document]) -> Result<(Vec<Bson>, BTreeMap<String, Purged>), StoreError> {
    let mut ids = Vec::with_capacity(chunk.len());
    let mut by_conversation: BTreeMap<String, Purged> = BTreeMap::new();
    for document in chunk {
        ids.push(document.get("_id").cloned().unwrap_or(Bson::Null));
        let entry = by_conversation
            .entry(text(document, "conversation")?)
            .or_default();
        let seq = int(document, "seq")?;
        entry.seqs.push(seq);
        entry.highest_seq = entry.highest_seq.max(seq);
        entry.newest_created_at = entry.newest_created_at.max(int(document, "created_at")?);
    }
    Ok((ids, by_conversation))
}
