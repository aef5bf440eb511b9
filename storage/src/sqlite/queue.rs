//! [`QueueStore`] on SQLite: the `queue_messages` table, written through
//! the database's group-committing writer.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{unix_millis, SqliteDatabase};
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

/// Turns one `queue_messages` row into a message; a broken row is `Corrupt`.
pub(super) fn decode_row(row: &SqliteRow) -> Result<QueuedMessage, StoreError> {
    let id: StoredId = row.try_get("id")?;
    let headers: String = row.try_get("headers")?;
    let headers: Vec<(String, String)> = serde_json::from_str(&headers)
        .map_err(|error| StoreError::Corrupt(format!("message {id}: headers: {error}")))?;
    let deliveries: i64 = row.try_get("deliveries")?;
    let deliveries = u32::try_from(deliveries)
        .map_err(|_| StoreError::Corrupt(format!("message {id}: delivery count {deliveries}")))?;
    let body: Vec<u8> = row.try_get("body")?;
    Ok(QueuedMessage {
        id,
        queue: row.try_get("queue")?,
        headers,
        body: Bytes::from(body),
        deliveries,
    })
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
        let rows = sqlx::query(
            "SELECT id, queue, headers, body, deliveries FROM queue_messages ORDER BY id",
        )
        .fetch_all(self.database.readers()?)
        .await?;
        rows.iter().map(decode_row).collect()
    }

    /// Closes the whole database: the directory and message log kept in it
    /// close too.
    async fn close(&self) {
        self.database.close().await;
    }
}
