//! The single writer of a Herald SQLite database, and its group commit.
//!
//! One task owns the only write connection. Callers send it [`Job`]s over a
//! bounded channel: queue changes, directory changes, message appends, all
//! alike. It takes everything already waiting (up to [`MAX_BATCH`]), runs
//! each job inside a savepoint of one transaction, commits once (one fsync),
//! then answers every caller. A caller therefore hears `Ok` only after its
//! change is durable, and changes apply in the order they were sent, so an
//! ack can never overtake its enqueue. A job that fails (a conflict, a
//! constraint) is rolled back to its savepoint alone; the jobs batched with
//! it still commit.
//!
//! Because every write of the database goes through this one task, a job
//! may read, decide and write without another writer changing the rows in
//! between: checks such as "not already friends" are race-free here.
//!
//! This module must not read for callers (reads go through the read pool)
//! and must not decide what errors mean (see `crate::error`).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::{Connection, Sqlite, SqliteConnection, Transaction};
use tokio::sync::{mpsc, oneshot, watch};

use crate::StoreError;

/// Most jobs committed in one transaction. Large enough that a burst of
/// writes shares a handful of fsyncs, small enough that one transaction
/// never holds the write lock for long.
pub(super) const MAX_BATCH: usize = 512;

/// A job's result, type-erased so that one writer serves every store; the
/// caller that made the job knows its type and downcasts it.
pub(super) type Outcome = Box<dyn Any + Send>;

/// A boxed future borrowing the write connection.
pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Work to do with the write connection inside the batch's transaction.
pub(super) type Job = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<Outcome, StoreError>>
        + Send,
>;

/// A job and where to answer once it is durable (or failed).
pub(super) struct Request {
    pub(super) job: Job,
    pub(super) reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// What the writer's inbox carries.
pub(super) enum Message {
    Apply(Request),
    /// Take no more messages; finish what is already queued, then exit.
    Close,
}

type Answer = (
    oneshot::Sender<Result<Outcome, StoreError>>,
    Result<Outcome, StoreError>,
);

/// The writer task: owns `connection` until the inbox is closed and drained,
/// then closes it and reports `true` on `finished`.
pub(super) async fn run(
    mut connection: SqliteConnection,
    mut inbox: mpsc::Receiver<Message>,
    max_batch: usize,
    commits: Arc<AtomicU64>,
    finished: watch::Sender<bool>,
) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // `recv_many` waits for one message, then takes whatever else is already
    // queued: under load that is the group; when idle it is a batch of one.
    while inbox.recv_many(&mut messages, max_batch).await > 0 {
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

/// Runs `batch` in one transaction, commits, and answers each caller. When
/// the transaction itself breaks (I/O, a savepoint that cannot be rolled
/// back) nothing is committed and every caller hears the error.
async fn apply(connection: &mut SqliteConnection, batch: &mut Vec<Request>, commits: &AtomicU64) {
    // IMMEDIATE takes the write lock now, waiting (busy timeout) for any
    // other process that holds it; a deferred transaction whose first job
    // reads could instead fail at its first write once another process
    // committed in between.
    let mut transaction = match connection.begin_with("BEGIN IMMEDIATE").await {
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
        match in_savepoint(&mut transaction, request.job).await {
            Ok(outcome) => answers.push((request.reply, outcome)),
            Err(error) => {
                broken = Some(error.clone());
                answers.push((request.reply, Err(error)));
            }
        }
    }
    let committed = match broken {
        Some(error) => {
            // Rolling back can fail too; the error we report is the first.
            let _ = transaction.rollback().await;
            Err(error)
        }
        None => transaction.commit().await.map_err(StoreError::from),
    };
    match committed {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            for (reply, outcome) in answers {
                // The caller may have given up waiting; the change stands.
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            tracing::warn!(%error, size = answers.len(), "SQLite batch failed; nothing committed");
            for (reply, _) in answers {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// Runs one job inside a savepoint. The inner result is the job's own; an
/// outer error means the savepoint could not be set, released or rolled
/// back, so the whole transaction is in doubt.
async fn in_savepoint(
    transaction: &mut Transaction<'_, Sqlite>,
    job: Job,
) -> Result<Result<Outcome, StoreError>, StoreError> {
    let mut savepoint = Connection::begin(&mut **transaction).await?;
    match job(&mut savepoint).await {
        Ok(outcome) => {
            savepoint.commit().await?;
            Ok(Ok(outcome))
        }
        Err(error) => {
            savepoint.rollback().await?;
            Ok(Err(error))
        }
    }
}
