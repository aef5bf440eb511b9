//! [`QueueStore`] on PostgreSQL: the `queue_messages` table, written
//! through the database's group-committing writer. `pending` returns every
//! queued message in the database, for a single node; the nodes of a
//! cluster `claim` instead: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
//! SKIP LOCKED LIMIT n) RETURNING ...`, so concurrent claimers skip each
//! other's rows rather than wait for them or take them twice. Lease times
//! come from the database's clock, so the nodes' clocks need not agree.

use std::time::Duration;

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

/// The database's clock in unix milliseconds, as SQL: lease times are all
/// taken from it, so nodes with skewed clocks still agree on when a lease
/// ends. A macro so that statements stay string literals.
macro_rules! now {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT"
    };
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
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
        let statement = "UPDATE queue_messages \
                         SET leased = FALSE, owner = NULL, lease_until = NULL WHERE id = $1";
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

    async fn claim(
        &self,
        queue: &str,
        owner: u16,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        let queue = queue.to_owned();
        let lease = millis(lease);
        let found = self
            .database
            .write(move |connection| {
                Box::pin(async move {
                    Ok(sqlx::query(concat!(
                        "UPDATE queue_messages SET owner = $1, lease_until = ",
                        now!(),
                        " + $2 WHERE id IN (SELECT id FROM queue_messages ",
                        "WHERE queue = $3 AND (owner IS NULL OR lease_until < ",
                        now!(),
                        ") ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) ",
                        "RETURNING id, queue, headers, body, deliveries"
                    ))
                    .bind(i32::from(owner))
                    .bind(lease)
                    .bind(queue)
                    .bind(i64::from(limit))
                    .fetch_all(connection)
                    .await?)
                })
            })
            .await?;
        let mut claimed = found
            .iter()
            .map(rows::queued_message)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|message| message.id);
        Ok(claimed)
    }

    async fn renew(&self, owner: u16, lease: Duration) -> Result<u64, StoreError> {
        let lease = millis(lease);
        self.database
            .write(move |connection| {
                Box::pin(async move {
                    let done = sqlx::query(concat!(
                        "UPDATE queue_messages SET lease_until = ",
                        now!(),
                        " + $1 WHERE owner = $2"
                    ))
                    .bind(lease)
                    .bind(i32::from(owner))
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
                        "UPDATE queue_messages \
                         SET leased = FALSE, owner = NULL, lease_until = NULL WHERE owner = $1",
                    )
                    .bind(i32::from(owner))
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
