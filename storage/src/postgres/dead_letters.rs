//! [`DeadLetters`] on PostgreSQL: the `dead_letters` table.

use async_trait::async_trait;

use super::PgDatabase;
use crate::dead_letters::DeadLetters;

/// A handle to the dead letters kept in Herald's database.
#[derive(Clone, Debug)]
pub struct PgDeadLetters {
    #[allow(dead_code)]
    database: PgDatabase,
}

impl From<PgDatabase> for PgDeadLetters {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl DeadLetters for PgDeadLetters {}
