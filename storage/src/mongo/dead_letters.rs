//! [`DeadLetters`] on MongoDB: the `dead_letters` collection, `_id` the
//! dead letter's id. Ids are taken the way message seqs are: one above the
//! highest stored, retried on a duplicate key. So an id is only written
//! right above a stored one, and a reader paging by id never passes an id
//! that a slower writer fills in later. This process's dead letters take
//! turns (see `turns`), so only other processes race for an id.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

use super::documents::{int, text};
use super::error::is_duplicate_key;
use super::MongoDatabase;
use crate::{DeadLetter, DeadLetters, StoreError};

const DEAD_LETTERS: &str = "dead_letters";

/// As for message seqs: far more retries than real contention needs.
const MAX_ATTEMPTS: u32 = 100_000;

/// A handle to Herald's dead letters in MongoDB. Clones share one
/// connection.
#[derive(Clone, Debug)]
pub struct MongoDeadLetters {
    database: MongoDatabase,
}

impl MongoDeadLetters {
    pub(super) fn new(database: MongoDatabase) -> Self {
        Self { database }
    }

    async fn highest_id(&self) -> Result<i64, StoreError> {
        let highest = self
            .database
            .collection(DEAD_LETTERS)
            .find_one(doc! {})
            .sort(doc! { "_id": -1 })
            .projection(doc! { "_id": 1 })
            .await?;
        highest.map_or(Ok(0), |letter| int(&letter, "_id"))
    }
}

fn document(letter: &DeadLetter) -> Document {
    doc! {
        "user": letter.user,
        "device": &letter.device,
        "conversation": &letter.conversation,
        "seq": letter.seq,
        "message_id": letter.message_id,
        "attempts": i64::from(letter.attempts),
        "reason": &letter.reason,
        "at": letter.at,
    }
}

fn letter(document: &Document) -> Result<(i64, DeadLetter), StoreError> {
    let attempts = int(document, "attempts")?;
    let letter = DeadLetter {
        user: int(document, "user")?,
        device: text(document, "device")?,
        conversation: text(document, "conversation")?,
        seq: int(document, "seq")?,
        message_id: int(document, "message_id")?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("dead letter attempts {attempts}")))?,
        reason: text(document, "reason")?,
        at: int(document, "at")?,
    };
    Ok((int(document, "_id")?, letter))
}

#[async_trait]
impl DeadLetters for MongoDeadLetters {
    async fn dead_letter(&self, letter: DeadLetter) -> Result<i64, StoreError> {
        let _permit = self.database.enter().await?;
        let mut stored = document(&letter);
        let mut turn = self.database.dead_letter_turns().take("").await;
        for _ in 0..MAX_ATTEMPTS {
            let id = match turn.last() {
                Some(last) => last,
                None => self.highest_id().await?,
            } + 1;
            stored.insert("_id", id);
            match self
                .database
                .collection(DEAD_LETTERS)
                .insert_one(&stored)
                .await
            {
                Ok(_) => {
                    turn.set_last(Some(id));
                    return Ok(id);
                }
                // Another process took `id` first.
                Err(error) if is_duplicate_key(&error) => turn.set_last(None),
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Unavailable(format!(
            "no free dead-letter id after {MAX_ATTEMPTS} attempts"
        )))
    }

    async fn dead_letters(
        &self,
        limit: u32,
        after_id: i64,
    ) -> Result<Vec<(i64, DeadLetter)>, StoreError> {
        let _permit = self.database.enter().await?;
        // A limit of 0 means "no limit" to MongoDB.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let found: Vec<Document> = self
            .database
            .collection(DEAD_LETTERS)
            .find(doc! { "_id": { "$gt": after_id } })
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        found.iter().map(letter).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_reads_back_as_stored() {
        let given = DeadLetter {
            user: 3,
            device: "phone".into(),
            conversation: "g1".into(),
            seq: 9,
            message_id: 99,
            attempts: u32::MAX,
            reason: "ack timeout".into(),
            at: 1_700_000_000_000,
        };
        let mut stored = document(&given);
        stored.insert("_id", 4_i64);
        assert_eq!(letter(&stored).expect("read back"), (4, given));
    }
}
