//! [`QueueStore`] on PostgreSQL: the `queue_messages` table, written
//! through the database's group-committing writer. `pending` returns every
//! queued message in the database: give each broker node its own database
//! for queues, or keep queues in the node's SQLite file.

use async_trait::async_trait;
use bytes::Bytes;

use super::writer::{Change, Done};
use super::{unix_millis, PgDatabase};
use crate::rows;
use crate::{QueueStore, QueuedMessage, StoreError, StoredId};

/// A handle to Herald's PostgreSQL queue store. Clones share one database.
#[derive(Clone, Debug)]
pub struct PgQueueStore {
    database: PgDatabase,
}

impl From<PgDatabase> for PgQueueStore {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

impl PgQueueStore {
    /// Connects on its own (see [`PgDatabase::connect`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(PgDatabase::connect(url).await?.queue_store())
    }

    /// The database this store is kept in.
    pub fn database(&self) -> &PgDatabase {
        &self.database
    }
}

#[async_trait]
impl QueueStore for PgQueueStore {
    async fn enqueue(
        &self,
        queue: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<StoredId, StoreError> {
        let change = Change::Enqueue {
            queue: queue.to_owned(),
            headers: serde_json::to_string(&headers)?,
            body,
            created_at: unix_millis(),
        };
        match self.database.change(change).await? {
            Done::Enqueued(id) => Ok(id),
            other => Err(StoreError::Unavailable(format!(
                "the writer answered an enqueue with {other:?}"
            ))),
        }
    }

    async fn lease(&self, id: StoredId) -> Result<(), StoreError> {
        self.database.change(Change::Lease(id)).await.map(drop)
    }

    async fn requeue(&self, id: StoredId) -> Result<(), StoreError> {
        self.database.change(Change::Requeue(id)).await.map(drop)
    }

    async fn ack(&self, id: StoredId) -> Result<(), StoreError> {
        self.database.change(Change::Ack(id)).await.map(drop)
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
