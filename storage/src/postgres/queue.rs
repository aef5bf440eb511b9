//! [`QueueStore`] on PostgreSQL: the `queue_messages` table, written
//! through the database's group-committing writer. `pending` returns every
//! queued message in the database: give each broker node its own database
//! for queues, or keep queues in the node's SQLite file.

use async_trait::async_trait;
use bytes::Bytes;

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

/// Runs a statement on one queue message; an unknown id changes nothing
/// and is not an error (the message was already acknowledged).
async fn by_id(
    database: &PgDatabase,
    statement: &'static str,
    id: StoredId,
) -> Result<(), StoreError> {
    database
        .grouped(None, move |connection| {
            Box::pin(async move {
                sqlx::query(statement).bind(id).execute(connection).await?;
                Ok(())
            })
        })
        .await
}

#[async_trait]
impl QueueStore for PgQueueStore {
    async fn enqueue(
        &self,
        queue: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<StoredId, StoreError> {
        let queue = queue.to_owned();
        let headers = serde_json::to_string(&headers)?;
        let created_at = unix_millis();
        self.database
            .grouped(None, move |connection| {
                Box::pin(async move {
                    let id: StoredId = sqlx::query_scalar(
                        "INSERT INTO queue_messages (queue, headers, body, created_at) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(queue)
                    .bind(headers)
                    .bind(&body[..])
                    .bind(created_at)
                    .fetch_one(connection)
                    .await?;
                    Ok(id)
                })
            })
            .await
    }

    async fn lease(&self, id: StoredId) -> Result<(), StoreError> {
        let statement =
            "UPDATE queue_messages SET deliveries = deliveries + 1, leased = TRUE WHERE id = $1";
        by_id(&self.database, statement, id).await
    }

    async fn requeue(&self, id: StoredId) -> Result<(), StoreError> {
        let statement = "UPDATE queue_messages SET leased = FALSE WHERE id = $1";
        by_id(&self.database, statement, id).await
    }

    async fn ack(&self, id: StoredId) -> Result<(), StoreError> {
        let statement = "DELETE FROM queue_messages WHERE id = $1";
        by_id(&self.database, statement, id).await
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
