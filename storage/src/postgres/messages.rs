//! [`MessageLog`] on PostgreSQL: the `conversations` and `messages`
//! tables. Appends go through the database's writer, which group-commits
//! them and takes each seq from the conversation's locked row.

use async_trait::async_trait;

use super::writer::{Change, Done};
use super::PgDatabase;
use crate::messages::{Appended, MessageLog, NewMessage, StoredMessage};
use crate::rows::{self, message_columns};
use crate::StoreError;

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

#[async_trait]
impl MessageLog for PgMessageLog {
    async fn append(&self, message: NewMessage) -> Result<Appended, StoreError> {
        let headers = serde_json::to_string(&message.headers)?;
        match self
            .database
            .change(Change::Append { message, headers })
            .await?
        {
            Done::Appended(message) => Ok(Appended {
                message,
                duplicate: false,
            }),
            other => Err(StoreError::Unavailable(format!(
                "the writer answered an append with {other:?}"
            ))),
        }
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
            " FROM messages WHERE conversation = $1 AND seq > $2 ORDER BY seq LIMIT $3"
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
            " FROM messages WHERE conversation = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
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
            sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = $1")
                .bind(conversation)
                .fetch_optional(self.database.readers()?)
                .await?;
        Ok(last.unwrap_or(0))
    }
}
