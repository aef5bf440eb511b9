//! The single writer of a Herald SQLite database, and its group commit.
//!
//! One task owns the only write connection. Callers send it jobs over a
//! bounded channel: queue changes, directory changes, message appends, all
//! alike. It takes everything already waiting (up to [`MAX_BATCH`]) and
//! commits it as one group (`crate::group_commit`: one transaction, one
//! fsync, a savepoint per job). A caller therefore hears `Ok` only after its
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

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use sqlx::{Connection, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, watch};

use crate::group_commit::{self, next_batch};

/// Most jobs committed in one transaction. Large enough that a burst of
/// writes shares a handful of fsyncs, small enough that one transaction
/// never holds the write lock for long.
pub(super) const MAX_BATCH: usize = 512;

/// What the writer's inbox carries. Its jobs have no lock key: they run in
/// the order they were sent.
pub(super) type Message = group_commit::Message<Sqlite, ()>;

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
    while next_batch(&mut inbox, &mut messages, &mut batch, max_batch).await {
        if !batch.is_empty() {
            // IMMEDIATE takes the write lock now, waiting (busy timeout) for
            // any other process that holds it; a deferred transaction whose
            // first job reads could instead fail at its first write once
            // another process committed in between.
            let begun = connection.begin_with("BEGIN IMMEDIATE").await;
            group_commit::commit(begun, &mut batch, &commits, "SQLite").await;
        }
    }
    if let Err(error) = connection.close().await {
        tracing::warn!(%error, "closing the SQLite write connection failed");
    }
    finished.send_replace(true);
}
