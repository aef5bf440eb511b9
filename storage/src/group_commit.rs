//! The group commit both SQL backends' writers run: a batch of jobs, each
//! in a savepoint of one transaction, one commit, then every caller
//! answered, so a caller hears `Ok` only once its change is durable. A job
//! that fails is rolled back to its savepoint alone; the jobs batched with
//! it still commit. Generic over `sqlx::Database`, as it needs no more of
//! a backend than its transactions: what differs (where the connection
//! comes from, how the transaction begins, the order jobs run in) stays in
//! each backend's `writer`.
//!
//! This module must not read for callers and must not decide what errors
//! mean (see `crate::error`).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Database, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

/// A boxed future borrowing a connection.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A job's result, type-erased so that one writer serves every store; the
/// caller that made the job knows its type and downcasts it.
pub(crate) type Outcome = Box<dyn Any + Send>;

/// Work to do with a connection inside the batch's transaction.
pub(crate) type Job<DB> = Box<
    dyn for<'c> FnOnce(
            &'c mut <DB as Database>::Connection,
        ) -> BoxFuture<'c, Result<Outcome, StoreError>>
        + Send,
>;

/// A job, what its backend orders batches by (`K`), and where to answer
/// once it is durable (or failed).
pub(crate) struct Request<DB: Database, K> {
    pub(crate) key: K,
    pub(crate) job: Job<DB>,
    pub(crate) reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// What a writer's inbox carries.
pub(crate) enum Message<DB: Database, K> {
    Apply(Request<DB, K>),
    /// Take no more messages; finish what is already queued, then exit.
    Close,
}

/// Waits for the next batch (at most `max_batch` messages) and moves its
/// requests into `batch`; `false` once the inbox is closed and drained.
/// `recv_many` waits for one message, then takes whatever else is already
/// queued: under load that is the group; when idle it is a batch of one.
pub(crate) async fn next_batch<DB: Database, K>(
    inbox: &mut mpsc::Receiver<Message<DB, K>>,
    messages: &mut Vec<Message<DB, K>>,
    batch: &mut Vec<Request<DB, K>>,
    max_batch: usize,
) -> bool {
    if inbox.recv_many(messages, max_batch).await == 0 {
        return false;
    }
    for message in messages.drain(..) {
        match message {
            Message::Apply(request) => batch.push(request),
            // Closing the receiver refuses later sends, while messages
            // already in the channel are still received and applied.
            Message::Close => inbox.close(),
        }
    }
    true
}

type Answer = (
    oneshot::Sender<Result<Outcome, StoreError>>,
    Result<Outcome, StoreError>,
);

/// Runs `batch` in the transaction `begun`, in order, commits, and answers
/// each caller. When the transaction itself breaks (it did not begin, I/O,
/// a savepoint that cannot be rolled back) nothing is committed and every
/// caller hears the error; `backend` names the database in that warning.
pub(crate) async fn commit<DB: Database, K>(
    begun: Result<Transaction<'_, DB>, sqlx::Error>,
    batch: &mut Vec<Request<DB, K>>,
    commits: &AtomicU64,
    backend: &str,
) {
    let mut transaction = match begun {
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
            let size = answers.len();
            tracing::warn!(%error, size, "{backend} batch failed; nothing committed");
            for (reply, _) in answers {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// Runs one job inside a savepoint. The inner result is the job's own; an
/// outer error means the savepoint could not be set, released or rolled
/// back, so the whole transaction is in doubt.
async fn in_savepoint<DB: Database>(
    transaction: &mut Transaction<'_, DB>,
    job: Job<DB>,
) -> Result<Result<Outcome, StoreError>, StoreError> {
    let mut savepoint = Connection::begin(&mut **transaction).await?;
    match job(&mut *savepoint).await {
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

/// Hands `job` to the writer behind `inbox` under `key` and waits until
/// its batch committed. A caller that stops waiting (its future dropped)
/// does not undo the job: once sent, it runs.
pub(crate) async fn submit<DB, K, T, F>(
    inbox: &mpsc::Sender<Message<DB, K>>,
    key: K,
    job: F,
) -> Result<T, StoreError>
where
    DB: Database,
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut DB::Connection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
{
    let (reply, answer) = oneshot::channel();
    let job: Job<DB> = Box::new(move |connection| {
        let work = job(connection);
        Box::pin(async move { work.await.map(|value| Box::new(value) as Outcome) })
    });
    inbox
        .send(Message::Apply(Request { key, job, reply }))
        .await
        .map_err(|_| StoreError::Closed)?;
    // A dropped reply means the writer stopped without answering: it only
    // does that when its task was torn down with the runtime.
    let outcome = answer.await.map_err(|_| StoreError::Closed)??;
    outcome
        .downcast::<T>()
        .map(|value| *value)
        .map_err(|_| StoreError::Unavailable("the writer answered with another type".into()))
}
