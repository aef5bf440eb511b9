//! The embedded SQLite backend: one `herald.db` file in the data directory.
//!
//! Writes go to a single writer task that group-commits them (see
//! [`writer`]); reads use a small pool of their own, which WAL mode lets run
//! beside the writer. The file is opened with `synchronous=FULL`, so a write
//! that was answered `Ok` survives `kill -9` and power loss.
//!
//! This module owns the connection settings, the schema migrations and the
//! row format. It must not hold messages in memory beyond one batch: the
//! broker keeps queue state, this module only makes it durable.

mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Row, SqlSafeStr};
use tokio::sync::{mpsc, oneshot, watch};

use crate::{QueueStore, QueuedMessage, StoreError, StoredId};
use writer::{Change, Message, Request};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "herald.db";

/// How long a connection waits for another one's lock before failing with
/// [`StoreError::Unavailable`] (checkpoints and a second process can hold it).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections; the machine Herald targets has few cores, and reads
/// are rare (start-up loading), so two is plenty.
const READ_CONNECTIONS: u32 = 2;

/// Requests that may wait for the writer before senders are made to wait:
/// bounded, so a stalled disk slows producers instead of growing memory.
const INBOX_CAPACITY: usize = 4 * writer::MAX_BATCH;

/// The schema, in order. Embedded at compile time so the binary needs no
/// files beside it; `tests::every_migration_file_is_embedded` checks that
/// this list matches `migrations/sqlite/`.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "queue messages",
    include_str!("../../migrations/sqlite/0001_queue_messages.sql"),
)];

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                description.into(),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

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
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A handle to Herald's SQLite queue store. Clones share one writer and one
/// read pool; the store closes when [`QueueStore::close`] is called or the
/// last clone is dropped (after finishing what was queued).
#[derive(Clone, Debug)]
pub struct SqliteQueueStore {
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

impl SqliteQueueStore {
    /// Opens (creating if needed) `data_dir/herald.db`, brings its schema up
    /// to date and starts the writer task. Must be called inside a tokio
    /// runtime; fails with `Unavailable` when the directory or file cannot
    /// be created or opened, and `Corrupt` when the file's schema belongs to
    /// another Herald version.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(data_dir).await.map_err(|error| {
            StoreError::Unavailable(format!("cannot create {}: {error}", data_dir.display()))
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let options = connect_options(&path);
        let mut connection = options.connect().await?;
        migrator().run(&mut connection).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options)
            .await?;

        let (inbox, receiver) = mpsc::channel(INBOX_CAPACITY);
        let (finished, writer_finished) = watch::channel(false);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(writer::run(
            connection,
            receiver,
            Arc::clone(&commits),
            finished,
        ));
        tracing::debug!(path = %path.display(), "opened SQLite queue store");
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

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// How many transactions the writer has committed since `open`. Each is
    /// one fsync; far fewer commits than writes means group commit works.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Hands `change` to the writer and waits until it is durable. A caller
    /// that stops waiting (its future dropped) does not undo the change:
    /// once sent, it is applied.
    async fn write(&self, change: Change) -> Result<StoredId, StoreError> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let (reply, answer) = oneshot::channel();
        let request = Request { change, reply };
        self.shared
            .inbox
            .send(Message::Apply(request))
            .await
            .map_err(|_| StoreError::Closed)?;
        // A dropped reply means the writer stopped without answering: it
        // only does that when its task was torn down with the runtime.
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Turns one `queue_messages` row into a message; a broken row is `Corrupt`.
fn decode_row(row: &SqliteRow) -> Result<QueuedMessage, StoreError> {
    let id: StoredId = row.try_get("id")?;
    let headers: String = row.try_get("headers")?;
    let headers: Vec<(String, String)> = serde_json::from_str(&headers)
        .map_err(|error| StoreError::Corrupt(format!("message {id}: headers: {error}")))?;
    let deliveries: i64 = row.try_get("deliveries")?;
    let deliveries = u32::try_from(deliveries)
        .map_err(|_| StoreError::Corrupt(format!("message {id}: delivery count {deliveries}")))?;
    let body: Vec<u8> = row.try_get("body")?;
    Ok(QueuedMessage {
        id,
        queue: row.try_get("queue")?,
        headers,
        body: Bytes::from(body),
        deliveries,
    })
}

#[async_trait]
impl QueueStore for SqliteQueueStore {
    async fn enqueue(
        &self,
        queue: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<StoredId, StoreError> {
        let change = Change::Enqueue {
            queue: queue.to_owned(),
            headers: serde_json::to_string(&headers)?,
            body,
            created_at: unix_millis(),
        };
        self.write(change).await
    }

    async fn lease(&self, id: StoredId) -> Result<(), StoreError> {
        self.write(Change::Lease(id)).await.map(drop)
    }

    async fn requeue(&self, id: StoredId) -> Result<(), StoreError> {
        self.write(Change::Requeue(id)).await.map(drop)
    }

    async fn ack(&self, id: StoredId) -> Result<(), StoreError> {
        self.write(Change::Ack(id)).await.map(drop)
    }

    async fn pending(&self) -> Result<Vec<QueuedMessage>, StoreError> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let rows = sqlx::query(
            "SELECT id, queue, headers, body, deliveries FROM queue_messages ORDER BY id",
        )
        .fetch_all(&self.shared.readers)
        .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn close(&self) {
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
}
