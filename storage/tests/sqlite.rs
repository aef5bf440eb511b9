//! The `QueueStore` contract, run against the embedded SQLite backend in a
//! fresh temporary directory per test.

#[macro_use]
mod contract;

use herald_storage::SqliteQueueStore;
use tempfile::TempDir;

async fn open_sqlite(directory: &TempDir) -> SqliteQueueStore {
    SqliteQueueStore::open(directory.path())
        .await
        .expect("open the SQLite store")
}

queue_store_contract!(
    sqlite,
    place: TempDir::new().expect("temp dir"),
    open: open_sqlite,
);
