//! [`MessageLog`](crate::MessageLog) on SQLite: the `conversations` and
//! `messages` tables with what appends keep beside them, in the SQL shared
//! with PostgreSQL (`crate::messages::sql`). Here is what is SQLite's own:
//! taking a seq and the FTS5 search index (`message_search`, keyed by
//! message id). Appends are writer jobs, so they group-commit with every
//! other write of the database and take their seq with no other writer in
//! between.

use std::path::Path;

use sqlx::{SqliteConnection, SqlitePool};

use super::SqliteDatabase;
use crate::rows::{self, head_columns, joined_message_columns};
use crate::{ConversationHead, NewMessage, StoreError, StoredMessage};

/// A handle to Herald's message log in its SQLite database. Clones share
/// one database.
#[derive(Clone, Debug)]
pub struct SqliteMessageLog {
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteMessageLog {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

impl SqliteMessageLog {
    /// Opens `data_dir/herald.db` on its own (see [`SqliteDatabase::open`]).
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(SqliteDatabase::open(data_dir).await?.message_log())
    }

    /// The database this log is kept in.
    pub fn database(&self) -> &SqliteDatabase {
        &self.database
    }
}

crate::messages::sql::sql_message_log!(SqliteMessageLog);

/// Takes the conversation's next seq and stores the message under it, with
/// its search entry. Run inside the writer's savepoint: a failed insert
/// gives the seq back.
async fn store(
    connection: &mut SqliteConnection,
    message: &NewMessage,
    headers: String,
    indexed: Option<String>,
) -> Result<i64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (id, last_seq, updated_at) VALUES ($1, 1, $2) \
         ON CONFLICT (id) DO UPDATE SET last_seq = conversations.last_seq + 1, \
         updated_at = max(conversations.updated_at, excluded.updated_at) RETURNING last_seq",
    )
    .bind(&message.conversation)
    .bind(message.created_at)
    .fetch_one(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO messages (conversation, seq, message_id, sender, kind, headers, body, \
         created_at, client_msg_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&message.conversation)
    .bind(seq)
    .bind(message.message_id)
    .bind(message.sender)
    .bind(&message.kind)
    .bind(headers)
    .bind(&message.body[..])
    .bind(message.created_at)
    .bind(&message.client_msg_id)
    .execute(&mut *connection)
    .await?;
    if let Some(text) = indexed {
        sqlx::query("INSERT INTO message_search (rowid, text) VALUES ($1, $2)")
            .bind(message.message_id)
            .bind(text)
            .execute(connection)
            .await?;
    }
    Ok(seq)
}

/// Drops a recalled message's search entry.
async fn unindex(
    connection: &mut SqliteConnection,
    message: &StoredMessage,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM message_search WHERE rowid = $1")
        .bind(message.message_id)
        .execute(connection)
        .await?;
    Ok(())
}

/// An FTS5 query matching every word: each is a quoted string (inner
/// quotes doubled), so nothing a user types is read as FTS5 syntax.
fn fts_query(words: &[String]) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    quoted.join(" AND ")
}

async fn search(
    readers: &SqlitePool,
    conversations: &[String],
    words: &[String],
    limit: u32,
) -> Result<Vec<StoredMessage>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        joined_message_columns!(),
        " FROM message_search JOIN messages m ON m.message_id = message_search.rowid \
         WHERE message_search MATCH $1 AND m.kind = 'message' \
         AND m.conversation IN (SELECT value FROM json_each($2)) \
         ORDER BY m.created_at DESC, m.message_id DESC LIMIT $3"
    ))
    .bind(fts_query(words))
    .bind(serde_json::to_string(conversations)?)
    .bind(rows::limit(limit))
    .fetch_all(readers)
    .await?;
    found.iter().map(rows::message).collect()
}

async fn heads(
    readers: &SqlitePool,
    conversations: &[String],
) -> Result<Vec<ConversationHead>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        head_columns!(),
        " FROM conversations c \
         LEFT JOIN messages m ON m.conversation = c.id AND m.seq = c.last_seq \
         WHERE c.id IN (SELECT value FROM json_each($1)) ORDER BY c.updated_at DESC, c.id"
    ))
    .bind(serde_json::to_string(conversations)?)
    .fetch_all(readers)
    .await?;
    found.iter().map(rows::head).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fts_query_quotes_every_word() {
        let words = ["say".to_owned(), "\"hi\"".to_owned(), "AND".to_owned()];
        assert_eq!(super::fts_query(&words), r#""say" AND """hi""" AND "AND""#);
    }
}
