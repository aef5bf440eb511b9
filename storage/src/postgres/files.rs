//! [`FileStore`](crate::FileStore) on PostgreSQL: the `files` and
//! `file_shares` tables, in the SQL shared by both backends
//! (`crate::files::sql`).

use super::PgDatabase;

/// A handle to the file records kept in Herald's database.
#[derive(Clone, Debug)]
pub struct PgFileStore {
    database: PgDatabase,
}

impl From<PgDatabase> for PgFileStore {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

crate::files::sql::sql_files!(PgFileStore);
