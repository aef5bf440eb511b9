//! [`DeadLetters`] on Sqlite: the `dead_letters` table.

use async_trait::async_trait;

use super::SqliteDatabase;
use crate::dead_letters::DeadLetters;

/// A handle to the dead letters kept in Herald's database.
#[derive(Clone, Debug)]
pub struct SqliteDeadLetters {
    #[allow(dead_code)]
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteDeadLetters {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl DeadLetters for SqliteDeadLetters {}
