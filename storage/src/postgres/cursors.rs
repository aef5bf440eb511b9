//! [`Cursors`] on PostgreSQL: delivered and read cursors, devices,
//! mentions and hidden messages.

use async_trait::async_trait;

use super::PgDatabase;
use crate::cursors::Cursors;

/// A handle to the cursors kept in Herald's database. Clones share one
/// database.
#[derive(Clone, Debug)]
pub struct PgCursors {
    #[allow(dead_code)]
    database: PgDatabase,
}

impl From<PgDatabase> for PgCursors {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl Cursors for PgCursors {}
