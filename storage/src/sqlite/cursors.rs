//! [`Cursors`] on Sqlite: delivered and read cursors, devices,
//! mentions and hidden messages.

use async_trait::async_trait;

use super::SqliteDatabase;
use crate::cursors::Cursors;

/// A handle to the cursors kept in Herald's database. Clones share one
/// database.
#[derive(Clone, Debug)]
pub struct SqliteCursors {
    #[allow(dead_code)]
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteCursors {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl Cursors for SqliteCursors {}
