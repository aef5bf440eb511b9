//! The store contracts, run against the embedded SQLite backend in a fresh
//! temporary directory per test.

#[macro_use]
mod contract;

use herald_storage::{SqliteQueueStore, Stores};
use tempfile::TempDir;

async fn open_sqlite(directory: &TempDir) -> SqliteQueueStore {
    SqliteQueueStore::open(directory.path())
        .await
        .expect("open the SQLite store")
}

async fn open_sqlite_stores(directory: &TempDir) -> Stores {
    Stores::sqlite(directory.path())
        .await
        .expect("open the SQLite stores")
}

queue_store_contract!(
    sqlite,
    place: TempDir::new().expect("temp dir"),
    open: open_sqlite,
);

chat_store_contract!(
    sqlite_chat,
    place: TempDir::new().expect("temp dir"),
    open: open_sqlite_stores,
);

reliable_store_contract!(
    sqlite_reliable,
    place: TempDir::new().expect("temp dir"),
    open: open_sqlite_stores,
);
