//! [`MessageLog`] on SQLite: the `conversations` and `messages` tables.
//! Appends are writer jobs, so they group-commit with every other write of
//! the database and take their seq with no other writer in between.

use std::path::Path;

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteDatabase;
use crate::messages::{Appended, MessageLog, NewMessage, StoredMessage};
use crate::rows::{self, message_columns};
use crate::StoreError;

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

/// Takes the conversation's next seq and stores the message under it. Run
/// inside the writer's savepoint: a failed insert gives the seq back.
async fn append(
    connection: &mut SqliteConnection,
    message: NewMessage,
    headers: String,
) -> Result<StoredMessage, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (id, last_seq) VALUES (?, 1) \
         ON CONFLICT (id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
    )
    .bind(&message.conversation)
    .fetch_one(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO messages \
         (conversation, seq, message_id, sender, kind, headers, body, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&message.conversation)
    .bind(seq)
    .bind(message.message_id)
    .bind(message.sender)
    .bind(&message.kind)
    .bind(headers)
    .bind(&message.body[..])
    .bind(message.created_at)
    .execute(connection)
    .await?;
    Ok(StoredMessage {
        conversation: message.conversation,
        seq,
        message_id: message.message_id,
        sender: message.sender,
        kind: message.kind,
        headers: message.headers,
        body: message.body,
        created_at: message.created_at,
        client_msg_id: message.client_msg_id,
    })
}

#[async_trait]
impl MessageLog for SqliteMessageLog {
    async fn append(&self, message: NewMessage) -> Result<Appended, StoreError> {
        let headers = serde_json::to_string(&message.headers)?;
        let message = self
            .database
            .write(move |connection| Box::pin(append(connection, message, headers)))
            .await?;
        Ok(Appended {
            message,
            duplicate: false,
        })
    }

    async fn after(
        &self,
        conversation: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let found = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(conversation)
        .bind(after_seq)
        .bind(rows::limit(limit))
        .fetch_all(self.database.readers()?)
        .await?;
        found.iter().map(rows::message).collect()
    }

    async fn before(
        &self,
        conversation: &str,
        before_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let found = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        ))
        .bind(conversation)
        .bind(before_seq)
        .bind(rows::limit(limit))
        .fetch_all(self.database.readers()?)
        .await?;
        let mut messages = found
            .iter()
            .map(rows::message)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    async fn last_seq(&self, conversation: &str) -> Result<i64, StoreError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = ?")
                .bind(conversation)
                .fetch_optional(self.database.readers()?)
                .await?;
        Ok(last.unwrap_or(0))
    }
}
