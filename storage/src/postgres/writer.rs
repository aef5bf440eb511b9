//! The PostgreSQL writer: group commit for message appends and queue
//! changes.
//!
//! One task takes every change already waiting (up to [`MAX_BATCH`]), runs
//! each in a savepoint of one transaction on one pooled connection, commits
//! once, then answers every caller, so a caller hears `Ok` only once its
//! change is durable. A change that fails (a repeated message id) is rolled
//! back to its savepoint alone, giving back the seq it took.
//!
//! Appends lock their conversation's row until the commit. Two processes
//! whose batches locked conversations in opposite orders would deadlock, so
//! each batch takes its appends in conversation order (keeping the order
//! of appends within a conversation, and of queue changes, as sent).
//!
//! This module must not read for callers and must not decide what errors
//! mean (see `crate::error`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot, watch};

use crate::messages::{NewMessage, StoredMessage};
use crate::{StoreError, StoredId};

/// Most changes committed in one transaction.
pub(super) const MAX_BATCH: usize = 512;

/// One change the writer applies.
#[derive(Debug)]
pub(super) enum Change {
    Append {
        message: NewMessage,
        /// Already encoded as JSON, so the writer never fails on encoding.
        headers: String,
    },
    Enqueue {
        queue: String,
        headers: String,
        body: Bytes,
        created_at: i64,
    },
    Lease(StoredId),
    Requeue(StoredId),
    Ack(StoredId),
}

impl Change {
    /// The conversation whose row this change locks, if any.
    fn conversation(&self) -> Option<&str> {
        match self {
            Change::Append { message, .. } => Some(&message.conversation),
            _ => None,
        }
    }
}

/// What a change produced.
#[derive(Debug)]
pub(super) enum Done {
    Appended(StoredMessage),
    Enqueued(StoredId),
    Changed,
}

#[derive(Debug)]
pub(super) struct Request {
    pub(super) change: Change,
    pub(super) reply: oneshot::Sender<Result<Done, StoreError>>,
}

#[derive(Debug)]
pub(super) enum Message {
    Apply(Request),
    /// Take no more messages; finish what is already queued, then exit.
    Close,
}

/// The writer task: runs until the inbox is closed and drained, then
/// reports `true` on `finished`.
pub(super) async fn run(
    pool: PgPool,
    mut inbox: mpsc::Receiver<Message>,
    max_batch: usize,
    commits: Arc<AtomicU64>,
    finished: watch::Sender<bool>,
) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while inbox.recv_many(&mut messages, max_batch).await > 0 {
        for message in messages.drain(..) {
            match message {
                Message::Apply(request) => batch.push(request),
                Message::Close => inbox.close(),
            }
        }
        if !batch.is_empty() {
            // Stable: queue changes (no conversation) first, in order, then
            // appends by conversation, each conversation's in order.
            batch.sort_by(|a: &Request, b: &Request| {
                a.change.conversation().cmp(&b.change.conversation())
            });
            apply(&pool, &mut batch, &commits).await;
        }
    }
    finished.send_replace(true);
}

type Answer = (
    oneshot::Sender<Result<Done, StoreError>>,
    Result<Done, StoreError>,
);

async fn apply(pool: &PgPool, batch: &mut Vec<Request>, commits: &AtomicU64) {
    let mut transaction = match pool.begin().await {
        Ok(transaction) => transaction,
        Err(error) => {
            let error = StoreError::from(error);
            for request in batch.drain(..) {
                let _ = request.reply.send(Err(error.clone()));
            }
            return;
        }
    };
    let mut answers: Vec<Answer> = Vec::with_capacity(batch.len());
    let mut broken: Option<StoreError> = None;
    for request in batch.drain(..) {
        if let Some(error) = &broken {
            answers.push((request.reply, Err(error.clone())));
            continue;
        }
        match in_savepoint(&mut transaction, request.change).await {
            Ok(outcome) => answers.push((request.reply, outcome)),
            Err(error) => {
                broken = Some(error.clone());
                answers.push((request.reply, Err(error)));
            }
        }
    }
    let committed = match broken {
        Some(error) => {
            let _ = transaction.rollback().await;
            Err(error)
        }
        None => transaction.commit().await.map_err(StoreError::from),
    };
    match committed {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            for (reply, outcome) in answers {
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            let size = answers.len();
            tracing::warn!(%error, size, "PostgreSQL batch failed; nothing committed");
            for (reply, _) in answers {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// Applies one change inside a savepoint; an outer error means the
/// transaction itself is in doubt.
async fn in_savepoint(
    transaction: &mut Transaction<'static, Postgres>,
    change: Change,
) -> Result<Result<Done, StoreError>, StoreError> {
    let mut savepoint = Connection::begin(&mut **transaction).await?;
    match apply_one(&mut savepoint, change).await {
        Ok(done) => {
            savepoint.commit().await?;
            Ok(Ok(done))
        }
        Err(error) => {
            savepoint.rollback().await?;
            Ok(Err(error))
        }
    }
}

async fn apply_one(connection: &mut PgConnection, change: Change) -> Result<Done, StoreError> {
    match change {
        Change::Append { message, headers } => append(connection, message, headers)
            .await
            .map(Done::Appended),
        Change::Enqueue {
            queue,
            headers,
            body,
            created_at,
        } => {
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
            Ok(Done::Enqueued(id))
        }
        Change::Lease(id) => by_id(
            connection,
            "UPDATE queue_messages SET deliveries = deliveries + 1, leased = TRUE WHERE id = $1",
            id,
        )
        .await,
        Change::Requeue(id) => {
            by_id(
                connection,
                "UPDATE queue_messages SET leased = FALSE WHERE id = $1",
                id,
            )
            .await
        }
        Change::Ack(id) => by_id(connection, "DELETE FROM queue_messages WHERE id = $1", id).await,
    }
}

/// Runs a statement on one queue message; an unknown id changes nothing
/// and is not an error (the message was already acknowledged).
async fn by_id(
    connection: &mut PgConnection,
    statement: &'static str,
    id: StoredId,
) -> Result<Done, StoreError> {
    sqlx::query(statement).bind(id).execute(connection).await?;
    Ok(Done::Changed)
}

/// Takes the conversation's next seq (locking its row until the commit)
/// and stores the message under it.
async fn append(
    connection: &mut PgConnection,
    message: NewMessage,
    headers: String,
) -> Result<StoredMessage, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (id, last_seq) VALUES ($1, 1) ON CONFLICT (id) \
         DO UPDATE SET last_seq = conversations.last_seq + 1 RETURNING last_seq",
    )
    .bind(&message.conversation)
    .fetch_one(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO messages \
         (conversation, seq, message_id, sender, kind, headers, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&message.conversation)
    .bind(seq)
    .bind(message.message_id)
    .bind(message.sender)
    .bind(&message.kind)
    .bind(headers)
    .bind(&message.body[..])
    .bind(message.created_at)
    .execute(connection)
    .await?;
    Ok(StoredMessage {
        conversation: message.conversation,
        seq,
        message_id: message.message_id,
        sender: message.sender,
        kind: message.kind,
        headers: message.headers,
        body: message.body,
        created_at: message.created_at,
        client_msg_id: message.client_msg_id,
    })
}
