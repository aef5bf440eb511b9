//! The embedded SQLite backend: one `herald.db` file in the data directory
//! holds the queue store, the directory, the message log, the cursors, the
//! dead letters and the file records.
//!
//! A [`SqliteDatabase`] owns the file: one writer task that group-commits
//! every write of every store together (see `writer`), and a small read
//! pool, which WAL mode lets run beside the writer. The file is opened with
//! `synchronous=FULL`, so a write that was answered `Ok` survives `kill -9`
//! and power loss. Because one writer applies every write in turn (and
//! `BEGIN IMMEDIATE` serializes it with any other process on the file), a
//! job may check and then write, race-free: that is how a repeated
//! `client-msg-id` is recognised. [`SqliteQueueStore`], [`SqliteDirectory`],
//! [`SqliteMessageLog`], [`SqliteCursors`], [`SqliteDeadLetters`] and
//! [`SqliteFileStore`] are handles on one database; closing any of them
//! closes the database for all.
//!
//! This module owns the connection settings, the schema migrations and the
//! row format. It must not hold data in memory beyond one batch.

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

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::{mpsc, watch};

pub(crate) use crate::common::unix_millis;
use crate::group_commit::{submit, BoxFuture};
use crate::{Options, StoreError};
use writer::Message;

pub use cursors::SqliteCursors;
pub use dead_letters::SqliteDeadLetters;
pub use directory::SqliteDirectory;
pub use files::SqliteFileStore;
pub use messages::SqliteMessageLog;
pub use queue::SqliteQueueStore;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "herald.db";

/// How long a connection waits for another one's lock before failing with
/// [`StoreError::Unavailable`] (checkpoints and a second process can hold it).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections; the machine Herald targets has few cores, and most
/// reads are short indexed lookups, so a few are plenty.
const READ_CONNECTIONS: u32 = 4;

/// Requests that may wait for the writer before senders are made to wait:
/// bounded, so a stalled disk slows producers instead of growing memory.
const INBOX_CAPACITY: usize = 4 * writer::MAX_BATCH;

/// The schema, in order. Embedded at compile time so the binary needs no
/// files beside it; `common::tests::every_migration_file_is_embedded` checks that
/// this list matches `migrations/sqlite/`.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "queue messages",
        include_str!("../../migrations/sqlite/0001_queue_messages.sql"),
    ),
    (
        2,
        "directory",
        include_str!("../../migrations/sqlite/0002_directory.sql"),
    ),
    (
        3,
        "messages",
        include_str!("../../migrations/sqlite/0003_messages.sql"),
    ),
    (
        4,
        "reliable messaging",
        include_str!("../../migrations/sqlite/0004_reliable_messaging.sql"),
    ),
    (
        5,
        "queue leases",
        include_str!("../../migrations/sqlite/0005_queue_leases.sql"),
    ),
];

/// Every connection to the file, the writer's and the readers', uses these.
fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL syncs the WAL on every commit: an answered write survives
        // power loss, not just a process crash. Group commit pays for it.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
}

/// Herald's SQLite database. Clones share one writer and one read pool;
/// the database closes when [`close`](Self::close) is called (by any
/// handle) or the last clone is dropped (after finishing what was queued).
#[derive(Clone, Debug)]
pub struct SqliteDatabase {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    inbox: mpsc::Sender<Message>,
    readers: SqlitePool,
    /// Set as soon as `close` starts, so new calls fail fast with `Closed`
    /// instead of queueing behind the drain.
    closing: AtomicBool,
    /// Becomes `true` once the writer has drained and exited.
    writer_finished: watch::Receiver<bool>,
    commits: Arc<AtomicU64>,
}

impl SqliteDatabase {
    /// Opens (creating if needed) `data_dir/herald.db`, brings its schema up
    /// to date and starts the writer task. Must be called inside a tokio
    /// runtime; fails with `Unavailable` when the directory or file cannot
    /// be created or opened, and `Corrupt` when the file's schema belongs to
    /// another Herald version.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, Options::default()).await
    }

    /// [`open`](Self::open) with `options` (group commit off, to measure).
    pub async fn open_with(data_dir: &Path, options: Options) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(data_dir).await.map_err(|error| {
            StoreError::Unavailable(format!("cannot create {}: {error}", data_dir.display()))
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let connect = connect_options(&path);
        let mut connection = connect.connect().await?;
        crate::common::migrator(MIGRATIONS)
            .run(&mut connection)
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(connect)
            .await?;

        let (inbox, receiver) = mpsc::channel(INBOX_CAPACITY);
        let (finished, writer_finished) = watch::channel(false);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(writer::run(
            connection,
            receiver,
            options.max_batch(writer::MAX_BATCH),
            Arc::clone(&commits),
            finished,
        ));
        tracing::debug!(path = %path.display(), "opened the SQLite database");
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                inbox,
                readers,
                closing: AtomicBool::new(false),
                writer_finished,
                commits,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// How many transactions the writer has committed since `open`. Each is
    /// one fsync; far fewer commits than writes means group commit works.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// The queue store kept in this database.
    pub fn queue_store(&self) -> SqliteQueueStore {
        SqliteQueueStore::from(self.clone())
    }

    /// The directory kept in this database.
    pub fn directory(&self) -> SqliteDirectory {
        SqliteDirectory::from(self.clone())
    }

    /// The cursors kept in this database.
    pub fn cursors(&self) -> SqliteCursors {
        SqliteCursors::from(self.clone())
    }

    /// The dead letters kept in this database.
    pub fn dead_letters(&self) -> SqliteDeadLetters {
        SqliteDeadLetters::from(self.clone())
    }

    /// The file records kept in this database.
    pub fn files(&self) -> SqliteFileStore {
        SqliteFileStore::from(self.clone())
    }

    /// The message log kept in this database.
    pub fn message_log(&self) -> SqliteMessageLog {
        SqliteMessageLog::from(self.clone())
    }

    /// Finishes in-flight writes and closes the file; later calls on any
    /// handle fail with [`StoreError::Closed`]. Calling it again does
    /// nothing more.
    pub async fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        // Fails only when the writer already stopped taking messages, which
        // means an earlier close got there first: then just wait with it.
        let _ = self.shared.inbox.send(Message::Close).await;
        let mut finished = self.shared.writer_finished.clone();
        // An error means the writer task is gone (runtime shutting down):
        // nothing is left to wait for.
        let _ = finished.wait_for(|done| *done).await;
        self.shared.readers.close().await;
    }

    /// Whether the database file still answers a query (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.readers()?).await?;
        Ok(())
    }

    /// The read pool, or `Closed` once closing started.
    fn readers(&self) -> Result<&SqlitePool, StoreError> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(&self.shared.readers)
    }

    /// [`write`](Self::write) under the name the SQL shared with PostgreSQL
    /// calls. `_key` orders PostgreSQL's batches by the rows they lock;
    /// here one writer per file runs every write in turn, so there is no
    /// lock order to keep.
    async fn grouped<T, F>(&self, _key: Option<String>, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.write(job).await
    }

    /// Hands `job` to the writer and waits until its transaction committed.
    /// A caller that stops waiting (its future dropped) does not undo the
    /// job: once sent, it runs.
    async fn write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        submit(&self.shared.inbox, (), job).await
    }
}
