//! The PostgreSQL backend, for several Herald nodes sharing one database.
//!
//! A [`PgDatabase`] owns one connection pool and one writer task (see
//! `writer`) that group-commits message appends and recalls, cursor
//! writes, queue changes, file records and dead letters. Directory writes
//! and retention purges run as one transaction each on the pool: they are
//! rare, and their races between processes are settled by row locks and
//! unique indexes. A message's seq is taken from its conversation's row
//! with `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` in the transaction
//! that stores the message, so it is contiguous whatever number of
//! processes append; a `client-msg-id` is stored once because its dedupe
//! record's primary key makes a racing second insert wait for the first
//! commit and then fail, and the append then answers with the first
//! message. [`PgQueueStore`], [`PgDirectory`], [`PgMessageLog`],
//! [`PgCursors`], [`PgDeadLetters`] and [`PgFileStore`] are handles on one
//! database; closing any of them closes it for all.
//!
//! This module owns the pool settings, the schema migrations (applied under
//! PostgreSQL's advisory lock, so nodes may start together) and the SQL.

mod contacts;
mod cursors;
mod dead_letters;
mod directory;
mod files;
mod groups;
mod join_requests;
mod messages;
mod queue;
mod users;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::PgConnection;
use tokio::sync::{mpsc, watch};

use crate::common::migrator;
use crate::group_commit::{submit, BoxFuture};
use crate::{Options, StoreError};
use writer::{LockKey, Message};

pub use cursors::PgCursors;
pub use dead_letters::PgDeadLetters;
pub use directory::PgDirectory;
pub use files::PgFileStore;
pub use messages::PgMessageLog;
pub use queue::PgQueueStore;

/// Connections in the pool: the writer holds one per batch, the rest serve
/// reads and directory writes.
const CONNECTIONS: u32 = 8;

/// How long a caller waits for a free connection before `Unavailable`.
/// While the server is down every caller waits this long for its ERROR
/// (the pool keeps retrying the connect until then), so it is short; a
/// healthy pool hands out a connection in well under a second even when
/// busy.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Requests that may wait for the writer before senders are made to wait.
const INBOX_CAPACITY: usize = 4 * writer::MAX_BATCH;

/// The schema, in order, embedded like SQLite's; a test checks this list
/// against `migrations/postgres/`.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "queue messages",
        include_str!("../../migrations/postgres/0001_queue_messages.sql"),
    ),
    (
        2,
        "directory",
        include_str!("../../migrations/postgres/0002_directory.sql"),
    ),
    (
        3,
        "messages",
        include_str!("../../migrations/postgres/0003_messages.sql"),
    ),
    (
        4,
        "reliable messaging",
        include_str!("../../migrations/postgres/0004_reliable_messaging.sql"),
    ),
    (
        5,
        "queue leases",
        include_str!("../../migrations/postgres/0005_queue_leases.sql"),
    ),
];

/// Herald's PostgreSQL database. Clones share one pool and one writer; the
/// database closes when [`close`](Self::close) is called by any handle.
#[derive(Clone, Debug)]
pub struct PgDatabase {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    pool: PgPool,
    inbox: mpsc::Sender<Message>,
    closing: AtomicBool,
    writer_finished: watch::Receiver<bool>,
    commits: Arc<AtomicU64>,
}

impl PgDatabase {
    /// Connects to `url` (`postgres://user:password@host:port/database`),
    /// brings the schema up to date and starts the writer task. Must be
    /// called inside a tokio runtime; fails with `Unavailable` when the
    /// server cannot be reached, and `Corrupt` when the database's schema
    /// belongs to another Herald version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Options::default()).await
    }

    /// [`connect`](Self::connect) with `options` (group commit off, to
    /// measure).
    pub async fn connect_with(url: &str, options: Options) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        migrator(MIGRATIONS).run(&pool).await?;
        let (inbox, receiver) = mpsc::channel(INBOX_CAPACITY);
        let (finished, writer_finished) = watch::channel(false);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(writer::run(
            pool.clone(),
            receiver,
            options.max_batch(writer::MAX_BATCH),
            Arc::clone(&commits),
            finished,
        ));
        tracing::debug!("connected to the PostgreSQL database");
        Ok(Self {
            shared: Arc::new(Shared {
                pool,
                inbox,
                closing: AtomicBool::new(false),
                writer_finished,
                commits,
            }),
        })
    }

    /// How many batches the writer has committed since `connect`.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// The queue store kept in this database.
    pub fn queue_store(&self) -> PgQueueStore {
        PgQueueStore::from(self.clone())
    }

    /// The directory kept in this database.
    pub fn directory(&self) -> PgDirectory {
        PgDirectory::from(self.clone())
    }

    /// The cursors kept in this database.
    pub fn cursors(&self) -> PgCursors {
        PgCursors::from(self.clone())
    }

    /// The dead letters kept in this database.
    pub fn dead_letters(&self) -> PgDeadLetters {
        PgDeadLetters::from(self.clone())
    }

    /// The file records kept in this database.
    pub fn files(&self) -> PgFileStore {
        PgFileStore::from(self.clone())
    }

    /// The message log kept in this database.
    pub fn message_log(&self) -> PgMessageLog {
        PgMessageLog::from(self.clone())
    }

    /// Finishes in-flight writes and closes the pool; later calls on any
    /// handle fail with [`StoreError::Closed`]. Calling it again does
    /// nothing more.
    pub async fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        let _ = self.shared.inbox.send(Message::Close).await;
        let mut finished = self.shared.writer_finished.clone();
        let _ = finished.wait_for(|done| *done).await;
        self.shared.pool.close().await;
    }

    /// Whether the server answers a query (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.readers()?).await?;
        Ok(())
    }

    /// The pool, for reads, or `Closed` once closing started.
    fn readers(&self) -> Result<&PgPool, StoreError> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(&self.shared.pool)
    }

    /// Runs `work` in one transaction of its own and commits it; an error
    /// rolls it back.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let mut transaction = self.readers()?.begin().await?;
        let value = work(&mut transaction).await?;
        transaction.commit().await?;
        Ok(value)
    }

    /// Hands `job` to the writer and waits until its batch committed.
    /// `key` names the row the job locks, so that batches lock in one
    /// order (see `writer`). A caller that stops waiting does not undo the
    /// job: once sent, it runs.
    async fn grouped<T, F>(&self, key: LockKey, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        submit(&self.shared.inbox, key, job).await
    }
}
