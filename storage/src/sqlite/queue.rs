//! [`QueueStore`] on SQLite: the `queue_messages` table, written through
//! the database's group-committing writer.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::SqliteConnection;

use super::{unix_millis, SqliteDatabase};
use crate::rows;
use crate::{QueueStore, QueuedMessage, StoreError, StoredId};

/// A handle to Herald's SQLite queue store. Clones share one database.
#[derive(Clone, Debug)]
pub struct SqliteQueueStore {
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteQueueStore {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

impl SqliteQueueStore {
    /// Opens `data_dir/herald.db` on its own (see [`SqliteDatabase::open`]).
    /// To share the file's writer with the other stores, open the database
    /// once and call [`SqliteDatabase::queue_store`] instead.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(SqliteDatabase::open(data_dir).await?.queue_store())
    }

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        self.database.path()
    }

    /// How many transactions the database's writer has committed.
    pub fn commits(&self) -> u64 {
        self.database.commits()
    }

    /// The database this store is kept in.
    pub fn database(&self) -> &SqliteDatabase {
        &self.database
    }
}

async fn insert(
    connection: &mut SqliteConnection,
    queue: String,
    headers: String,
    body: Bytes,
) -> Result<StoredId, StoreError> {
    let result = sqlx::query(
        "INSERT INTO queue_messages (queue, headers, body, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(queue)
    .bind(headers)
    .bind(&body[..])
    .bind(unix_millis())
    .execute(connection)
    .await?;
    Ok(result.last_insert_rowid())
}

/// The statements that change one message by id; an unknown id changes
/// nothing and is not an error (the message was already acknowledged).
const LEASE: &str =
    "UPDATE queue_messages SET deliveries = deliveries + 1, leased = 1 WHERE id = ?";
const REQUEUE: &str = "UPDATE queue_messages SET leased = 0 WHERE id = ?";
const ACK: &str = "DELETE FROM queue_messages WHERE id = ?";

async fn change(
    connection: &mut SqliteConnection,
    statement: &'static str,
    id: StoredId,
) -> Result<(), StoreError> {
    sqlx::query(statement).bind(id).execute(connection).await?;
    Ok(())
}

#[async_trait]
impl QueueStore for SqliteQueueStore {
    async fn enqueue(
        &self,
        queue: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<StoredId, StoreError> {
        let queue = queue.to_owned();
        let headers = serde_json::to_string(&headers)?;
        self.database
            .write(move |connection| Box::pin(insert(connection, queue, headers, body)))
            .await
    }

    async fn lease(&self, id: StoredId) -> Result<(), StoreError> {
        self.database
            .write(move |connection| Box::pin(change(connection, LEASE, id)))
            .await
    }

    async fn requeue(&self, id: StoredId) -> Result<(), StoreError> {
        self.database
            .write(move |connection| Box::pin(change(connection, REQUEUE, id)))
            .await
    }

    async fn ack(&self, id: StoredId) -> Result<(), StoreError> {
        self.database
            .write(move |connection| Box::pin(change(connection, ACK, id)))
            .await
    }

    async fn pending(&self) -> Result<Vec<QueuedMessage>, StoreError> {
        let found = sqlx::query(
            "SELECT id, queue, headers, body, deliveries FROM queue_messages ORDER BY id",
        )
        .fetch_all(self.database.readers()?)
        .await?;
        found.iter().map(rows::queued_message).collect()
    }

    /// Closes the whole database: the directory and message log kept in it
    /// close too.
    async fn close(&self) {
        self.database.close().await;
    }
}
