//! [`QueueStore`](crate::QueueStore) on PostgreSQL: the `queue_messages`
//! table, written through the database's group-committing writer, in the
//! SQL shared with SQLite (`crate::queue::sql`) but for claims and leases. `pending` returns every
//! queued message in the database, for a single node; the nodes of a
//! cluster `claim` instead: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
//! SKIP LOCKED LIMIT n) RETURNING ...`, so concurrent claimers skip each
//! other's rows rather than wait for them or take them twice. Lease times
//! come from the database's clock, so the nodes' clocks need not agree.

use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::PgConnection;

use super::PgDatabase;
use crate::queue::sql::millis;
use crate::StoreError;

/// A handle to Herald's PostgreSQL queue store. Clones share one database.
#[derive(Clone, Debug)]
pub struct PgQueueStore {
    database: PgDatabase,
}

impl From<PgDatabase> for PgQueueStore {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

impl PgQueueStore {
    /// Connects on its own (see [`PgDatabase::connect`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(PgDatabase::connect(url).await?.queue_store())
    }

    /// The database this store is kept in.
    pub fn database(&self) -> &PgDatabase {
        &self.database
    }
}

/// The database's clock in unix milliseconds, as SQL: lease times are all
/// taken from it, so nodes with skewed clocks still agree on when a lease
/// ends. A macro so that statements stay string literals.
macro_rules! now {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT"
    };
}

/// Marks up to `limit` free messages of `queue` as `owner`'s until `lease`
/// from now and returns their rows, skipping rows another claimer locked.
async fn claim(
    connection: &mut PgConnection,
    queue: String,
    owner: u16,
    limit: u32,
    lease: Duration,
) -> Result<Vec<PgRow>, StoreError> {
    Ok(sqlx::query(concat!(
        "UPDATE queue_messages SET owner = $1, lease_until = ",
        now!(),
        " + $2 WHERE id IN (SELECT id FROM queue_messages ",
        "WHERE queue = $3 AND (owner IS NULL OR lease_until < ",
        now!(),
        ") ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) ",
        "RETURNING id, queue, headers, body, deliveries"
    ))
    .bind(i32::from(owner))
    .bind(millis(lease))
    .bind(queue)
    .bind(i64::from(limit))
    .fetch_all(connection)
    .await?)
}

/// Extends every lease `owner` holds to `lease` from now; returns how many.
async fn renew(
    connection: &mut PgConnection,
    owner: u16,
    lease: Duration,
) -> Result<u64, StoreError> {
    let done = sqlx::query(concat!(
        "UPDATE queue_messages SET lease_until = ",
        now!(),
        " + $1 WHERE owner = $2"
    ))
    .bind(millis(lease))
    .bind(i32::from(owner))
    .execute(connection)
    .await?;
    Ok(done.rows_affected())
}

crate::queue::sql::sql_queue!(PgQueueStore);
