//! The PostgreSQL writer: group commit for every frequent write (message
//! appends and recalls, cursors, queue changes, files, dead letters).
//!
//! One task takes every job already waiting (up to [`MAX_BATCH`]) and
//! commits it as one group on one pooled connection (`crate::group_commit`:
//! a savepoint per job in one transaction, then every caller answered), so
//! a caller hears `Ok` only once its change is durable. A job that fails
//! (a repeated message id, a deadlock victim) is rolled back to its
//! savepoint alone, giving back the seq and the row locks it took; the
//! jobs batched with it still commit.
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

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::Postgres;
use tokio::sync::{mpsc, watch};

use crate::group_commit::{self, next_batch, Request};

/// Most jobs committed in one transaction.
pub(super) const MAX_BATCH: usize = 512;

/// The row a job locks, named so that every process sorts alike
/// (`conversation/g1`, `read/7/u1-7` ...); `None` for jobs that lock
/// nothing another job waits on (inserts of new rows).
pub(super) type LockKey = Option<String>;

/// What the writer's inbox carries: jobs with their lock keys.
pub(super) type Message = group_commit::Message<Postgres, LockKey>;

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
    while next_batch(&mut inbox, &mut messages, &mut batch, max_batch).await {
        if !batch.is_empty() {
            // Stable: key-less jobs first, in order, then by key.
            batch.sort_by(|a: &Request<Postgres, LockKey>, b| a.key.cmp(&b.key));
            let begun = pool.begin().await;
            group_commit::commit(begun, &mut batch, &commits, "PostgreSQL").await;
        }
    }
    finished.send_replace(true);
}
