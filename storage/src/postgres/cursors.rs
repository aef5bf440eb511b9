//! [`Cursors`](crate::Cursors) on PostgreSQL: devices, delivered and read
//! cursors, mentions and hidden messages, in the SQL shared by both
//! backends (`crate::cursors::sql`). Writes go through the database's
//! group-committing writer.

use super::PgDatabase;

/// A handle to the cursors kept in Herald's database. Clones share one
/// database.
#[derive(Clone, Debug)]
pub struct PgCursors {
    database: PgDatabase,
}

impl From<PgDatabase> for PgCursors {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

crate::cursors::sql::sql_cursors!(PgCursors);
