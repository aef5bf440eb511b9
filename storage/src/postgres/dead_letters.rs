//! [`DeadLetters`](crate::DeadLetters) on PostgreSQL: the `dead_letters`
//! table, in the SQL shared by both backends (`crate::dead_letters::sql`).

use super::PgDatabase;

/// A handle to the dead letters kept in Herald's database.
#[derive(Clone, Debug)]
pub struct PgDeadLetters {
    database: PgDatabase,
}

impl From<PgDatabase> for PgDeadLetters {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

crate::dead_letters::sql::sql_dead_letters!(PgDeadLetters);
