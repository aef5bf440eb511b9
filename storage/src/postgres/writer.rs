//! The PostgreSQL writer: group commit for every frequent write (message
//! appends and recalls, cursors, queue changes, files, dead letters).
//!
//! One task takes every job already waiting (up to [`MAX_BATCH`]), runs
//! each in a savepoint of one transaction on one pooled connection, commits
//! once, then answers every caller, so a caller hears `Ok` only once its
//! change is durable. A job that fails (a repeated message id, a deadlock
//! victim) is rolled back to its savepoint alone, giving back the seq and
//! the row locks it took; the jobs batched with it still commit.
//!
//! Jobs lock rows until the commit: an append its conversation's row, a
//! cursor write its cursor's row. Two processes whose batches locked such
//! rows in opposite orders would deadlock, so each batch runs its jobs
//! sorted by their [`LockKey`] (keeping the order of jobs with equal keys,
//! and of jobs with none, as sent). A job should lock at most the row its
//! key names plus rows no other key-less job touches.
//!
//! What the order cannot cover: one sender's `client-msg-id` sent to two
//! conversations through two nodes at once (an append locks its
//! conversation, then waits on the other node's dedupe record), and
//! retention purges, which run outside the writer. PostgreSQL detects such
//! a cycle and fails one statement; its savepoint rolls back (releasing
//! its locks) and that one caller hears `Unavailable`, which it may retry.
//!
//! This module must not read for callers and must not decide what errors
//! mean (see `crate::error`).

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot, watch};

use super::BoxFuture;
use crate::StoreError;

/// Most jobs committed in one transaction.
pub(super) const MAX_BATCH: usize = 512;

/// The row a job locks, named so that every process sorts alike
/// (`conversation/g1`, `read/7/u1-7` ...); `None` for jobs that lock
/// nothing another job waits on (inserts of new rows).
pub(super) type LockKey = Option<String>;

/// A job's result, type-erased so that one writer serves every store; the
/// caller that made the job knows its type and downcasts it.
pub(super) type Outcome = Box<dyn Any + Send>;

/// Work to do with a connection inside the batch's transaction.
pub(super) type Job = Box<
    dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<Outcome, StoreError>> + Send,
>;

pub(super) struct Request {
    pub(super) key: LockKey,
    pub(super) job: Job,
    pub(super) reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

pub(super) enum Message {
    Apply(Request),
    /// Take no more messages; finish what is already queued, then exit.
    Close,
}

/// The writer task: runs until the inbox is closed and drained, then
/// reports `true` on `finished`. `max_batch` of 1 turns group commit off.
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
            // Stable: key-less jobs first, in order, then by key.
            batch.sort_by(|a: &Request, b: &Request| a.key.cmp(&b.key));
            apply(&pool, &mut batch, &commits).await;
        }
    }
    finished.send_replace(true);
}

type Answer = (
    oneshot::Sender<Result<Outcome, StoreError>>,
    Result<Outcome, StoreError>,
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

/// Runs one job inside a savepoint; an outer error means the transaction
/// itself is in doubt.
async fn in_savepoint(
    transaction: &mut Transaction<'static, Postgres>,
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
