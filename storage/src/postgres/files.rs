//! [`FileStore`] on PostgreSQL: the `files` and `file_shares` tables.

use async_trait::async_trait;

use super::PgDatabase;
use crate::files::FileStore;

/// A handle to the file records kept in Herald's database.
#[derive(Clone, Debug)]
pub struct PgFileStore {
    #[allow(dead_code)]
    database: PgDatabase,
}

impl From<PgDatabase> for PgFileStore {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl FileStore for PgFileStore {}
