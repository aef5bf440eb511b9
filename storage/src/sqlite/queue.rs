//! [`QueueStore`](crate::QueueStore) on SQLite: the `queue_messages` table,
//! written through the database's group-committing writer, in the SQL
//! shared with PostgreSQL (`crate::queue::sql`) but for claims and leases.
//! Claims go through the one writer too, so they never overlap (also for
//! two handles on one file).

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;

use super::{unix_millis, SqliteDatabase};
use crate::queue::sql::millis;
use crate::StoreError;

/// A handle to Herald's SQLite queue store. Clones share one database.
#[derive(Clone, Debug)]
pub struct SqliteQueueStore {
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteQueueStore {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

impl SqliteQueueStore {
    /// Opens `data_dir/herald.db` on its own (see [`SqliteDatabase::open`]).
    /// To share the file's writer with the other stores, open the database
    /// once and call [`SqliteDatabase::queue_store`] instead.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(SqliteDatabase::open(data_dir).await?.queue_store())
    }

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        self.database.path()
    }

    /// How many transactions the database's writer has committed.
    pub fn commits(&self) -> u64 {
        self.database.commits()
    }

    /// The database this store is kept in.
    pub fn database(&self) -> &SqliteDatabase {
        &self.database
    }
}

/// Marks up to `limit` free messages of `queue` as `owner`'s until `lease`
/// from now and returns their rows.
async fn claim(
    connection: &mut SqliteConnection,
    queue: String,
    owner: u16,
    limit: u32,
    lease: Duration,
) -> Result<Vec<SqliteRow>, StoreError> {
    let now = unix_millis();
    Ok(sqlx::query(
        "UPDATE queue_messages SET owner = $1, lease_until = $2 WHERE id IN ( \
             SELECT id FROM queue_messages \
             WHERE queue = $3 AND (owner IS NULL OR lease_until < $4) \
             ORDER BY id LIMIT $5) \
         RETURNING id, queue, headers, body, deliveries",
    )
    .bind(i64::from(owner))
    .bind(now.saturating_add(millis(lease)))
    .bind(queue)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(connection)
    .await?)
}

/// Extends every lease `owner` holds to `lease` from now; returns how many.
async fn renew(
    connection: &mut SqliteConnection,
    owner: u16,
    lease: Duration,
) -> Result<u64, StoreError> {
    let until = unix_millis().saturating_add(millis(lease));
    let done = sqlx::query("UPDATE queue_messages SET lease_until = $1 WHERE owner = $2")
        .bind(until)
        .bind(i64::from(owner))
        .execute(connection)
        .await?;
    Ok(done.rows_affected())
}

crate::queue::sql::sql_queue!(SqliteQueueStore);
