//! [`QueueStore`] on SQLite: the `queue_messages` table, written through
//! the database's group-committing writer. Claims go through the one
//! writer too, so they never overlap (also for two handles on one file).

use std::path::Path;
use std::time::Duration;

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
const REQUEUE: &str =
    "UPDATE queue_messages SET leased = 0, owner = NULL, lease_until = NULL WHERE id = ?";
const ACK: &str = "DELETE FROM queue_messages WHERE id = ?";

async fn change(
    connection: &mut SqliteConnection,
    statement: &'static str,
    id: StoredId,
) -> Result<(), StoreError> {
    sqlx::query(statement).bind(id).execute(connection).await?;
    Ok(())
}

/// Marks up to `limit` free messages of `queue` as `owner`'s until `lease`
/// from now, and returns them in id order.
async fn claim(
    connection: &mut SqliteConnection,
    queue: String,
    owner: u16,
    limit: u32,
    lease: Duration,
) -> Result<Vec<QueuedMessage>, StoreError> {
    let now = unix_millis();
    let found = sqlx::query(
        "UPDATE queue_messages SET owner = ?, lease_until = ? WHERE id IN ( \
             SELECT id FROM queue_messages \
             WHERE queue = ? AND (owner IS NULL OR lease_until < ?) \
             ORDER BY id LIMIT ?) \
         RETURNING id, queue, headers, body, deliveries",
    )
    .bind(i64::from(owner))
    .bind(now.saturating_add(millis(lease)))
    .bind(queue)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(connection)
    .await?;
    let mut claimed = found
        .iter()
        .map(rows::queued_message)
        .collect::<Result<Vec<_>, _>>()?;
    claimed.sort_by_key(|message| message.id);
    Ok(claimed)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
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

    async fn claim(
        &self,
        queue: &str,
        owner: u16,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        let queue = queue.to_owned();
        self.database
            .write(move |connection| Box::pin(claim(connection, queue, owner, limit, lease)))
            .await
    }

    async fn renew(&self, owner: u16, lease: Duration) -> Result<u64, StoreError> {
        self.database
            .write(move |connection| {
                Box::pin(async move {
                    let until = unix_millis().saturating_add(millis(lease));
                    let done =
                        sqlx::query("UPDATE queue_messages SET lease_until = ? WHERE owner = ?")
                            .bind(until)
                            .bind(i64::from(owner))
                            .execute(connection)
                            .await?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    async fn release_owner(&self, owner: u16) -> Result<u64, StoreError> {
        self.database
            .write(move |connection| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE queue_messages SET leased = 0, owner = NULL, lease_until = NULL \
                         WHERE owner = ?",
                    )
                    .bind(i64::from(owner))
                    .execute(connection)
                    .await?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    /// Closes the whole database: the directory and message log kept in it
    /// close too.
    async fn close(&self) {
        self.database.close().await;
    }
}
