//! The [`QueueStore`](super::QueueStore) trait on a SQL backend, written
//! once with `$n` placeholders (see `crate::cursors::sql`).
//!
//! [`sql_queue!`] expands, inside a backend's `queue` module, to the trait
//! impl for that backend's handle. Claiming and renewing leases differ
//! between the backends and are left to functions beside it, `claim` and
//! `renew`: PostgreSQL's nodes share one table, so it takes lease times
//! from the database's clock and skips rows another claimer locked, while
//! SQLite's one writer claims in turn by the local clock. The handle's
//! `database` needs `grouped` (a job in the group-committed writer),
//! `write` (a job in a transaction of its own), `readers` and `close`.

/// The `QueueStore` impl for `$handle`; see the module docs.
macro_rules! sql_queue {
    ($handle:ty) => {
        /// Runs a statement on one queue message; an unknown id changes
        /// nothing and is not an error (the message was already
        /// acknowledged).
        async fn by_id(
            handle: &$handle,
            statement: &'static str,
            id: $crate::StoredId,
        ) -> Result<(), $crate::StoreError> {
            handle
                .database
                .grouped(None, move |connection| {
                    Box::pin(async move {
                        sqlx::query(statement).bind(id).execute(connection).await?;
                        Ok(())
                    })
                })
                .await
        }

        #[async_trait::async_trait]
        impl $crate::QueueStore for $handle {
            async fn enqueue(
                &self,
                queue: &str,
                headers: Vec<(String, String)>,
                body: bytes::Bytes,
            ) -> Result<$crate::StoredId, $crate::StoreError> {
                let queue = queue.to_owned();
                let headers = serde_json::to_string(&headers)?;
                let created_at = $crate::common::unix_millis();
                // A new row that no other job waits on: no lock key.
                self.database
                    .grouped(None, move |connection| {
                        Box::pin(async move {
                            let id: $crate::StoredId = sqlx::query_scalar(
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

            async fn lease(&self, id: $crate::StoredId) -> Result<(), $crate::StoreError> {
                let statement = "UPDATE queue_messages \
                                 SET deliveries = deliveries + 1, leased = TRUE WHERE id = $1";
                by_id(self, statement, id).await
            }

            async fn requeue(&self, id: $crate::StoredId) -> Result<(), $crate::StoreError> {
                let statement = "UPDATE queue_messages \
                                 SET leased = FALSE, owner = NULL, lease_until = NULL \
                                 WHERE id = $1";
                by_id(self, statement, id).await
            }

            async fn ack(&self, id: $crate::StoredId) -> Result<(), $crate::StoreError> {
                by_id(self, "DELETE FROM queue_messages WHERE id = $1", id).await
            }

            async fn pending(&self) -> Result<Vec<$crate::QueuedMessage>, $crate::StoreError> {
                let found = sqlx::query(
                    "SELECT id, queue, headers, body, deliveries FROM queue_messages ORDER BY id",
                )
                .fetch_all(self.database.readers()?)
                .await?;
                found.iter().map($crate::rows::queued_message).collect()
            }

            async fn claim(
                &self,
                queue: &str,
                owner: u16,
                limit: u32,
                lease: std::time::Duration,
            ) -> Result<Vec<$crate::QueuedMessage>, $crate::StoreError> {
                let queue = queue.to_owned();
                let found = self
                    .database
                    .write(move |connection| {
                        Box::pin(claim(connection, queue, owner, limit, lease))
                    })
                    .await?;
                let mut claimed = found
                    .iter()
                    .map($crate::rows::queued_message)
                    .collect::<Result<Vec<_>, _>>()?;
                claimed.sort_by_key(|message| message.id);
                Ok(claimed)
            }

            async fn renew(
                &self,
                owner: u16,
                lease: std::time::Duration,
            ) -> Result<u64, $crate::StoreError> {
                self.database
                    .write(move |connection| Box::pin(renew(connection, owner, lease)))
                    .await
            }

            async fn release_owner(&self, owner: u16) -> Result<u64, $crate::StoreError> {
                self.database
                    .write(move |connection| {
                        Box::pin(async move {
                            let done = sqlx::query(
                                "UPDATE queue_messages \
                                 SET leased = FALSE, owner = NULL, lease_until = NULL \
                                 WHERE owner = $1",
                            )
                            .bind(i32::from(owner))
                            .execute(connection)
                            .await?;
                            Ok(done.rows_affected())
                        })
                    })
                    .await
            }

            /// Closes the whole database: the directory and message log
            /// kept in it close too.
            async fn close(&self) {
                self.database.close().await;
            }
        }
    };
}

/// A lease's length in milliseconds, as SQL takes it.
pub(crate) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) use sql_queue;
