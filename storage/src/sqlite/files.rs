//! [`FileStore`] on Sqlite: the `files` and `file_shares` tables.

use async_trait::async_trait;

use super::SqliteDatabase;
use crate::files::FileStore;

/// A handle to the file records kept in Herald's database.
#[derive(Clone, Debug)]
pub struct SqliteFileStore {
    #[allow(dead_code)]
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteFileStore {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl FileStore for SqliteFileStore {}
