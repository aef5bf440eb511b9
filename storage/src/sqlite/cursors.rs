//! [`Cursors`](crate::Cursors) on SQLite: devices, delivered and read
//! cursors, mentions and hidden messages, in the SQL shared by both
//! backends (`crate::cursors::sql`). Writes go through the database's
//! group-committing writer.

use super::SqliteDatabase;

/// A handle to the cursors kept in Herald's database. Clones share one
/// database.
#[derive(Clone, Debug)]
pub struct SqliteCursors {
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteCursors {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

crate::cursors::sql::sql_cursors!(SqliteCursors);
