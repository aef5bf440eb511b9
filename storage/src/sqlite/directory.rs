//! [`Directory`] on SQLite: the handle, and the trait's methods routed to
//! [`users`](super::users), [`contacts`](super::contacts) and
//! [`groups`](super::groups). Reads go to the read pool; writes become jobs
//! of the database's group-committing writer.

use std::path::Path;

use async_trait::async_trait;

use super::{contacts, groups, users, SqliteDatabase};
use crate::directory::{
    Account, Direction, Directory, Friend, FriendRequest, Group, GroupId, GroupPatch, JoinRequest,
    Member, NewGroup, NewUser, ProfilePatch, RequestId, Role, User, UserId,
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

/// Runs `$call` (a function of the writer's connection) as a writer job.
macro_rules! write {
    ($self:ident, |$connection:ident| $call:expr) => {
        $self
            .database
            .write(move |$connection| Box::pin($call))
            .await
    };
}

#[async_trait]
impl Directory for SqliteDirectory {
    async fn create_user(&self, user: NewUser) -> Result<Account, StoreError> {
        write!(self, |connection| users::create(connection, user))
    }

    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError> {
        users::account(self.database.readers()?, id).await
    }

    async fn account_by_username(&self, username: &str) -> Result<Option<Account>, StoreError> {
        users::account_by_username(self.database.readers()?, username).await
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        users::users(self.database.readers()?, ids).await
    }

    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<User, StoreError> {
        write!(self, |connection| users::update_profile(
            connection, id, patch
        ))
    }

    async fn set_password(&self, id: UserId, password_hash: String) -> Result<i64, StoreError> {
        write!(self, |connection| users::bump_token_version(
            connection,
            id,
            Some(password_hash)
        ))
    }

    async fn bump_token_version(&self, id: UserId) -> Result<i64, StoreError> {
        write!(self, |connection| users::bump_token_version(
            connection, id, None
        ))
    }

    async fn search_users(&self, query: &str, limit: u32) -> Result<Vec<User>, StoreError> {
        users::search(self.database.readers()?, query, limit).await
    }

    async fn create_friend_request(
        &self,
        from: UserId,
        to: UserId,
        greeting: &str,
    ) -> Result<FriendRequest, StoreError> {
        let greeting = greeting.to_owned();
        write!(self, |connection| contacts::create_request(
            connection, from, to, greeting
        ))
    }

    async fn friend_request(&self, id: RequestId) -> Result<Option<FriendRequest>, StoreError> {
        contacts::request(self.database.readers()?, id).await
    }

    async fn friend_requests(
        &self,
        user: UserId,
        direction: Direction,
    ) -> Result<Vec<FriendRequest>, StoreError> {
        contacts::requests(self.database.readers()?, user, direction).await
    }

    async fn resolve_friend_request(
        &self,
        id: RequestId,
        accept: bool,
    ) -> Result<FriendRequest, StoreError> {
        write!(self, |connection| contacts::resolve_request(
            connection, id, accept
        ))
    }

    async fn friends(&self, user: UserId) -> Result<Vec<Friend>, StoreError> {
        contacts::friends(self.database.readers()?, user).await
    }

    async fn friend_ids(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        contacts::friend_ids(self.database.readers()?, user).await
    }

    async fn are_friends(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        contacts::are_friends(self.database.readers()?, a, b).await
    }

    async fn delete_friend(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        write!(self, |connection| contacts::delete_friend(connection, a, b))
    }

    async fn set_remark(
        &self,
        owner: UserId,
        friend: UserId,
        remark: Option<String>,
    ) -> Result<(), StoreError> {
        write!(self, |connection| contacts::set_remark(
            connection, owner, friend, remark
        ))
    }

    async fn block(&self, owner: UserId, target: UserId) -> Result<(), StoreError> {
        write!(self, |connection| contacts::block(connection, owner, target))
    }

    async fn unblock(&self, owner: UserId, target: UserId) -> Result<bool, StoreError> {
        write!(self, |connection| contacts::unblock(
            connection, owner, target
        ))
    }

    async fn is_blocked(&self, owner: UserId, target: UserId) -> Result<bool, StoreError> {
        contacts::is_blocked(self.database.readers()?, owner, target).await
    }

    async fn blocked(&self, owner: UserId) -> Result<Vec<User>, StoreError> {
        contacts::blocked(self.database.readers()?, owner).await
    }

    async fn create_group(&self, owner: UserId, group: NewGroup) -> Result<Group, StoreError> {
        write!(self, |connection| groups::create(connection, owner, group))
    }

    async fn group(&self, id: GroupId) -> Result<Option<Group>, StoreError> {
        groups::group(self.database.readers()?, id).await
    }

    async fn update_group(&self, id: GroupId, patch: GroupPatch) -> Result<Group, StoreError> {
        write!(self, |connection| groups::update(connection, id, patch))
    }

    async fn dissolve_group(&self, id: GroupId) -> Result<(), StoreError> {
        write!(self, |connection| groups::dissolve(connection, id))
    }

    async fn add_member(
        &self,
        group: GroupId,
        user: UserId,
        role: Role,
    ) -> Result<Member, StoreError> {
        write!(self, |connection| groups::add_member(
            connection, group, user, role
        ))
    }

    async fn remove_member(&self, group: GroupId, user: UserId) -> Result<bool, StoreError> {
        write!(self, |connection| groups::remove_member(
            connection, group, user
        ))
    }

    async fn member(&self, group: GroupId, user: UserId) -> Result<Option<Member>, StoreError> {
        groups::member(self.database.readers()?, group, user).await
    }

    async fn members(&self, group: GroupId) -> Result<Vec<Member>, StoreError> {
        groups::members(self.database.readers()?, group).await
    }

    async fn member_ids(&self, group: GroupId) -> Result<Vec<UserId>, StoreError> {
        groups::member_ids(self.database.readers()?, group).await
    }

    async fn set_role(&self, group: GroupId, user: UserId, role: Role) -> Result<(), StoreError> {
        write!(self, |connection| groups::set_role(
            connection, group, user, role
        ))
    }

    async fn transfer_ownership(
        &self,
        group: GroupId,
        from: UserId,
        to: UserId,
    ) -> Result<(), StoreError> {
        write!(self, |connection| groups::transfer_ownership(
            connection, group, from, to
        ))
    }

    async fn set_muted(
        &self,
        group: GroupId,
        user: UserId,
        muted: bool,
    ) -> Result<(), StoreError> {
        write!(self, |connection| groups::set_muted(
            connection, group, user, muted
        ))
    }

    async fn user_groups(&self, user: UserId) -> Result<Vec<(Group, Role)>, StoreError> {
        groups::user_groups(self.database.readers()?, user).await
    }

    async fn create_join_request(
        &self,
        group: GroupId,
        user: UserId,
        message: &str,
    ) -> Result<JoinRequest, StoreError> {
        let message = message.to_owned();
        write!(self, |connection| groups::create_join_request(
            connection, group, user, message
        ))
    }

    async fn join_requests(&self, group: GroupId) -> Result<Vec<JoinRequest>, StoreError> {
        groups::join_requests(self.database.readers()?, group).await
    }

    async fn join_request(&self, id: RequestId) -> Result<Option<JoinRequest>, StoreError> {
        groups::join_request(self.database.readers()?, id).await
    }

    async fn resolve_join_request(
        &self,
        id: RequestId,
        accept: bool,
    ) -> Result<JoinRequest, StoreError> {
        write!(self, |connection| groups::resolve_join_request(
            connection, id, accept
        ))
    }
}
