//! [`FileStore`](crate::FileStore) on SQLite: the `files` and
//! `file_shares` tables, in the SQL shared by both backends
//! (`crate::files::sql`).

use super::SqliteDatabase;

/// A handle to the file records kept in Herald's database.
#[derive(Clone, Debug)]
pub struct SqliteFileStore {
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteFileStore {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

crate::files::sql::sql_files!(SqliteFileStore);
