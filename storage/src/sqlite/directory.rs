//! [`Directory`](crate::Directory) on SQLite: the handle. The trait's
//! methods go to `users`, `contacts`, `groups` and `join_requests` beside
//! it (see `crate::directory::sql`): reads to the read pool, writes as jobs
//! of the database's group-committing writer.

use std::path::Path;

use super::{contacts, groups, join_requests, users, SqliteDatabase};
use crate::directory::{
    Account, Direction, Friend, FriendRequest, Group, GroupId, GroupPatch, JoinRequest, Member,
    NewGroup, NewUser, ProfilePatch, RequestId, Role, User, UserId,
};
use crate::StoreError;

/// A handle to Herald's directory in its SQLite database. Clones share one
/// database.
#[derive(Clone, Debug)]
pub struct SqliteDirectory {
    database: SqliteDatabase,
}

impl From<SqliteDatabase> for SqliteDirectory {
    fn from(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

impl SqliteDirectory {
    /// Opens `data_dir/herald.db` on its own (see [`SqliteDatabase::open`]).
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(SqliteDatabase::open(data_dir).await?.directory())
    }

    /// The database this directory is kept in.
    pub fn database(&self) -> &SqliteDatabase {
        &self.database
    }
}

crate::directory::sql::sql_directory!(SqliteDirectory);
