//! Search over the MongoDB message log, without a server-side text index:
//! each message of `kind = "message"` carries its indexed text cut into
//! lowercase words (`words`, a multikey index), the query's words are
//! looked up with `$all`, and each candidate is checked here for the
//! query's phrases. Matching is the SQL backends': whole words,
//! case-insensitive, all of the query's words, each word of the query
//! taken literally (one with punctuation inside, `don't`, is the phrase
//! `don t`). Diacritics are kept, as both SQL backends keep them.
//!
//! Why not MongoDB's `$text`: its stemming and stop words match
//! differently from the SQL backends, and the test server lacks it.

use futures_util::TryStreamExt;
use mongodb::bson::doc;

use super::documents::{self, texts};
use super::messages::{MongoMessageLog, MESSAGES};
use crate::messages::{distinct, query_words};
use crate::{StoreError, StoredMessage};

/// The words of indexed text, in order: runs of letters and digits,
/// lowercased (as SQLite's `unicode61` tokenizer cuts and folds them).
pub(super) fn words(text: &str) -> Vec<String> {
    text.split(|character: char| !character.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The query as phrases: each of its words cut as stored text is.
fn phrases(query: &str) -> Vec<Vec<String>> {
    query_words(query)
        .iter()
        .map(|word| words(word))
        .filter(|phrase| !phrase.is_empty())
        .collect()
}

/// True when every phrase occurs, word after word, in `words`.
fn matches(words: &[String], phrases: &[Vec<String>]) -> bool {
    phrases.iter().all(|phrase| {
        words
            .windows(phrase.len())
            .any(|window| window == phrase.as_slice())
    })
}

impl MongoMessageLog {
    /// [`MessageLog::search`](crate::MessageLog::search): newest first
    /// (by `created_at`, then message id), at most `limit`.
    pub(super) async fn search_messages(
        &self,
        conversations: &[String],
        query: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let phrases = phrases(query);
        if phrases.is_empty() || conversations.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let all_words = distinct(&phrases.concat());
        let _permit = self.database.enter().await?;
        let filter = doc! {
            "conversation": { "$in": distinct(conversations) },
            "kind": "message",
            "words": { "$all": all_words },
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut candidates = self
            .database
            .collection(MESSAGES)
            .find(filter)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?;
        let mut found = Vec::new();
        while let Some(candidate) = candidates.try_next().await? {
            if matches(&texts(&candidate, "words")?, &phrases) {
                found.push(documents::message(&candidate)?);
                if found.len() == limit {
                    break;
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_runs_of_letters_and_digits_lowercased() {
        assert_eq!(
            words("Héllo, WORLD! 中文 x2"),
            ["héllo", "world", "中文", "x2"]
        );
        assert!(words(" ,.!? ").is_empty());
    }

    #[test]
    fn every_phrase_must_occur_in_order() {
        let text = words("don't stop me now");
        assert!(matches(&text, &phrases("DON'T now")));
        assert!(matches(&text, &phrases("\"stop\"")));
        assert!(matches(&text, &phrases("now don")), "words in any order");
        assert!(
            !matches(&text, &phrases("stop-don")),
            "a phrase keeps its order"
        );
        assert!(!matches(&text, &phrases("stop missing")));
        assert!(!matches(&text, &phrases("sto")), "whole words only");
    }

    #[test]
    fn a_query_without_words_has_no_phrase() {
        assert!(phrases(" * % ' ").is_empty());
        assert_eq!(phrases("a-b c"), [vec!["a", "b"], vec!["c"]]);
    }
}
