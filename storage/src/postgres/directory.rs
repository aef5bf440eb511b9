//! [`Directory`](crate::Directory) on PostgreSQL: the handle. The trait's
//! methods go to `users`, `contacts`, `groups` and `join_requests` beside
//! it (see `crate::directory::sql`): reads and writes on the pool, each
//! write one transaction.

use super::{contacts, groups, join_requests, users, PgDatabase};
use crate::directory::{
    Account, Direction, Friend, FriendRequest, Group, GroupId, GroupPatch, JoinRequest, Member,
    NewGroup, NewUser, ProfilePatch, RequestId, Role, User, UserId,
};
use crate::StoreError;

/// A handle to Herald's directory in its PostgreSQL database. Clones share one
/// database.
#[derive(Clone, Debug)]
pub struct PgDirectory {
    database: PgDatabase,
}

impl From<PgDatabase> for PgDirectory {
    fn from(database: PgDatabase) -> Self {
        Self { database }
    }
}

impl PgDirectory {
    /// Connects on its own (see [`PgDatabase::connect`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(PgDatabase::connect(url).await?.directory())
    }

    /// The database this directory is kept in.
    pub fn database(&self) -> &PgDatabase {
        &self.database
    }
}

crate::directory::sql::sql_directory!(PgDirectory);
