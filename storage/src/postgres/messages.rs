//! [`MessageLog`](crate::MessageLog) on PostgreSQL: the `conversations`
//! and `messages` tables with what appends keep beside them, in the SQL
//! shared with SQLite (`crate::messages::sql`). Here is what is
//! PostgreSQL's own: taking a seq from the conversation's locked row, and
//! the search column (`to_tsvector('simple', ...)` under a GIN index).
//! Appends go through the database's writer, which group-commits them.

use sqlx::{PgConnection, PgPool};

use super::PgDatabase;
use crate::rows::{self, head_columns, message_columns};
use crate::{ConversationHead, NewMessage, StoreError, StoredMessage};

/// A handle to Herald's message log in its PostgreSQL database. Clones share
/// one database.
#[derive(Clone, Debug)]
pub struct PgMessageLog {
    database: PgDatabase,
}

impl From<PgDatabase> for PgMessageLog {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

impl PgMessageLog {
    /// Connects on its own (see [`PgDatabase::connect`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(PgDatabase::connect(url).await?.message_log())
    }

    /// The database this log is kept in.
    pub fn database(&self) -> &PgDatabase {
        &self.database
    }
}

crate::messages::sql::sql_message_log!(PgMessageLog);

/// Takes the conversation's next seq (locking its row until the commit)
/// and stores the message under it, with its search entry.
async fn store(
    connection: &mut PgConnection,
    message: &NewMessage,
    headers: String,
    indexed: Option<String>,
) -> Result<i64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (id, last_seq, updated_at) VALUES ($1, 1, $2) \
         ON CONFLICT (id) DO UPDATE SET last_seq = conversations.last_seq + 1, \
         updated_at = GREATEST(conversations.updated_at, excluded.updated_at) \
         RETURNING last_seq",
    )
    .bind(&message.conversation)
    .bind(message.created_at)
    .fetch_one(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO messages (conversation, seq, message_id, sender, kind, headers, body, \
         created_at, client_msg_id, search) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_tsvector('simple', $10))",
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
    .bind(indexed)
    .execute(connection)
    .await?;
    Ok(seq)
}

/// Drops a recalled message's search entry.
async fn unindex(connection: &mut PgConnection, message: &StoredMessage) -> Result<(), StoreError> {
    sqlx::query("UPDATE messages SET search = NULL WHERE conversation = $1 AND seq = $2")
        .bind(&message.conversation)
        .bind(message.seq)
        .execute(connection)
        .await?;
    Ok(())
}

async fn search(
    readers: &PgPool,
    conversations: &[String],
    words: &[String],
    limit: u32,
) -> Result<Vec<StoredMessage>, StoreError> {
    // `plainto_tsquery` reads its text as plain words joined by AND, never
    // as query syntax, so any text is safe.
    let found = sqlx::query(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE search @@ plainto_tsquery('simple', $1) \
         AND kind = 'message' AND conversation = ANY($2) \
         ORDER BY created_at DESC, message_id DESC LIMIT $3"
    ))
    .bind(words.join(" "))
    .bind(conversations)
    .bind(rows::limit(limit))
    .fetch_all(readers)
    .await?;
    found.iter().map(rows::message).collect()
}

async fn heads(
    readers: &PgPool,
    conversations: &[String],
) -> Result<Vec<ConversationHead>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        head_columns!(),
        " FROM conversations c \
         LEFT JOIN messages m ON m.conversation = c.id AND m.seq = c.last_seq \
         WHERE c.id = ANY($1) ORDER BY c.updated_at DESC, c.id"
    ))
    .bind(conversations)
    .fetch_all(readers)
    .await?;
    found.iter().map(rows::head).collect()
}
