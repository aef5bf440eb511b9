//! [`DeadLetters`](crate::DeadLetters) on SQLite: the `dead_letters`
//! table, in the SQL shared by both backends (`crate::dead_letters::sql`).

use super::SqliteDatabase;

/// A handle to the dead letters kept in Herald's database.
#[derive(Clone, Debug)]
pub struct SqliteDeadLetters {
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteDeadLetters {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

crate::dead_letters::sql::sql_dead_letters!(SqliteDeadLetters);
