//! The single writer of a Herald SQLite database, and its group commit.
//!
//! One task owns the only write connection. Callers send it [`Request`]s over
//! a bounded channel; it takes everything already waiting (up to
//! [`MAX_BATCH`]), applies the lot in one transaction, commits once (one
//! fsync), then answers every caller. A caller therefore hears `Ok` only
//! after its change is durable, and changes apply in the order they were
//! sent, so an ack can never overtake its enqueue.
//!
//! This module must not read for callers (reads go through the read pool)
//! and must not decide what errors mean (see `crate::error`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};

use crate::{StoreError, StoredId};

/// Most changes committed in one transaction. Large enough that a burst of
/// enqueues shares a handful of fsyncs, small enough that one transaction
/// never holds the write lock for long.
pub(super) const MAX_BATCH: usize = 512;

/// One change to the queue table.
#[derive(Debug)]
pub(super) enum Change {
    Enqueue {
        queue: String,
        /// Already encoded as JSON, so the writer never fails on encoding.
        headers: String,
        body: Bytes,
        created_at: i64,
    },
    Lease(StoredId),
    Requeue(StoredId),
    Ack(StoredId),
}

/// A change and where to answer once it is durable. The answer carries the
/// new id for an enqueue and the given id otherwise.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) change: Change,
    pub(super) reply: oneshot::Sender<Result<StoredId, StoreError>>,
}

/// What the writer's inbox carries.
#[derive(Debug)]
pub(super) enum Message {
    Apply(Request),
    /// Take no more messages; finish what is already queued, then exit.
    Close,
}

/// The writer task: owns `connection` until the inbox is closed and drained,
/// then closes it and reports `true` on `finished`.
pub(super) async fn run(
    mut connection: SqliteConnection,
    mut inbox: mpsc::Receiver<Message>,
    commits: Arc<AtomicU64>,
    finished: watch::Sender<bool>,
) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // `recv_many` waits for one message, then takes whatever else is already
    // queued: under load that is the group; when idle it is a batch of one.
    while inbox.recv_many(&mut messages, MAX_BATCH).await > 0 {
        for message in messages.drain(..) {
            match message {
                Message::Apply(request) => batch.push(request),
                // Closing the receiver refuses later sends, while messages
                // already in the channel are still received and applied.
                Message::Close => inbox.close(),
            }
        }
        if !batch.is_empty() {
            apply(&mut connection, &mut batch, &commits).await;
        }
    }
    if let Err(error) = connection.close().await {
        tracing::warn!(%error, "closing the SQLite write connection failed");
    }
    finished.send_replace(true);
}

/// Commits `batch` in one transaction and answers each caller. When that
/// fails, applies each change in a transaction of its own, so one bad change
/// (a constraint violation) does not fail the changes batched with it.
async fn apply(connection: &mut SqliteConnection, batch: &mut Vec<Request>, commits: &AtomicU64) {
    let changes: Vec<&Change> = batch.iter().map(|request| &request.change).collect();
    match commit(connection, &changes).await {
        Ok(ids) => {
            commits.fetch_add(1, Ordering::Relaxed);
            for (request, id) in batch.drain(..).zip(ids) {
                // The caller may have given up waiting; the change stands.
                let _ = request.reply.send(Ok(id));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(request) = batch.pop() {
                let _ = request.reply.send(Err(error));
            }
        }
        Err(error) => {
            tracing::warn!(%error, size = batch.len(), "batch failed; applying its changes one by one");
            for request in batch.drain(..) {
                let result = commit(connection, &[&request.change]).await;
                if result.is_ok() {
                    commits.fetch_add(1, Ordering::Relaxed);
                }
                let answer = result.and_then(|ids| {
                    ids.first()
                        .copied()
                        .ok_or_else(|| StoreError::Unavailable("no id for the change".into()))
                });
                let _ = request.reply.send(answer);
            }
        }
    }
}

/// Applies `changes` in order in one transaction; returns one id per change.
/// On error the transaction is dropped, which rolls it back.
async fn commit(
    connection: &mut SqliteConnection,
    changes: &[&Change],
) -> Result<Vec<StoredId>, StoreError> {
    let mut transaction = connection.begin().await?;
    let mut ids = Vec::with_capacity(changes.len());
    for change in changes {
        ids.push(apply_one(&mut transaction, change).await?);
    }
    transaction.commit().await?;
    Ok(ids)
}

/// Applies one change. Lease, requeue and ack of an unknown id change
/// nothing and succeed: the message was already acknowledged.
async fn apply_one(
    connection: &mut SqliteConnection,
    change: &Change,
) -> Result<StoredId, StoreError> {
    match change {
        Change::Enqueue {
            queue,
            headers,
            body,
            created_at,
        } => {
            let result = sqlx::query(
                "INSERT INTO queue_messages (queue, headers, body, created_at) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(queue.as_str())
            .bind(headers.as_str())
            .bind(&body[..])
            .bind(*created_at)
            .execute(&mut *connection)
            .await?;
            Ok(result.last_insert_rowid())
        }
        Change::Lease(id) => {
            sqlx::query(
                "UPDATE queue_messages SET deliveries = deliveries + 1, leased = 1 WHERE id = ?",
            )
            .bind(*id)
            .execute(&mut *connection)
            .await?;
            Ok(*id)
        }
        Change::Requeue(id) => {
            sqlx::query("UPDATE queue_messages SET leased = 0 WHERE id = ?")
                .bind(*id)
                .execute(&mut *connection)
                .await?;
            Ok(*id)
        }
        Change::Ack(id) => {
            sqlx::query("DELETE FROM queue_messages WHERE id = ?")
                .bind(*id)
                .execute(&mut *connection)
                .await?;
            Ok(*id)
        }
    }
}
