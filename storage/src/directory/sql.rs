//! The [`Directory`](super::Directory) trait's methods routed to a SQL
//! backend's resource modules, written once for every SQL backend.
//!
//! [`sql_directory!`] expands, inside a backend module, to the trait impl
//! for that backend's handle. It expects beside it modules `users`,
//! `contacts`, `groups` and `join_requests` with the same functions in each
//! backend, and a `database` field with `write` (runs a function of a
//! connection in one durable transaction) and `readers` (the read pool).
//! Those modules are written once too, in the submodules here, each a
//! macro a backend expands with its connection and database types.

pub(crate) mod contacts;
pub(crate) mod groups;
pub(crate) mod join_requests;
pub(crate) mod users;

/// Runs `$call` (a function of a connection) as one durable write.
macro_rules! durably {
    ($self:ident, |$connection:ident| $call:expr) => {
        $self
            .database
            .write(move |$connection| Box::pin($call))
            .await
    };
}

/// Answers the pending request `$id` in `$table` (`accepted` or
/// `rejected`, resolved at `$now`) and evaluates to it as read back by
/// `$request`: `NotFound` when there is none, `Conflict` when it was
/// answered before. Friend and join requests share this life cycle, and
/// only the first answer may count, so the check is the update itself.
macro_rules! settle {
    (
        $connection:ident,
        $request:ident,
        $table:literal,
        $noun:literal,
        $id:expr,
        $accept:expr,
        $now:expr
    ) => {{
        let id = $id;
        let status = if $accept { "accepted" } else { "rejected" };
        let updated = sqlx::query(concat!(
            "UPDATE ",
            $table,
            " SET status = $1, resolved_at = $2 WHERE id = $3 AND status = 'pending'"
        ))
        .bind(status)
        .bind($now)
        .bind(id)
        .execute(&mut *$connection)
        .await?
        .rows_affected();
        let request = $request(&mut *$connection, id)
            .await?
            .ok_or_else(|| $crate::StoreError::NotFound(format!(concat!($noun, " {}"), id)))?;
        if updated == 0 {
            return Err($crate::StoreError::Conflict(format!(
                concat!($noun, " {} is already {}"),
                id,
                request.status.as_str()
            )));
        }
        request
    }};
}

/// The `Directory` impl for `$handle`; see the module docs.
macro_rules! sql_directory {
    ($handle:ty) => {
        #[async_trait::async_trait]
        impl $crate::directory::Directory for $handle {
            async fn create_user(
                &self,
                user: NewUser,
            ) -> ::std::result::Result<Account, StoreError> {
                $crate::directory::sql::durably!(self, |connection| users::create(connection, user))
            }

            async fn account(
                &self,
                id: UserId,
            ) -> ::std::result::Result<Option<Account>, StoreError> {
                users::account(self.database.readers()?, id).await
            }

            async fn account_by_username(
                &self,
                username: &str,
            ) -> ::std::result::Result<Option<Account>, StoreError> {
                users::account_by_username(self.database.readers()?, username).await
            }

            async fn users(&self, ids: &[UserId]) -> ::std::result::Result<Vec<User>, StoreError> {
                users::users(self.database.readers()?, ids).await
            }

            async fn update_profile(
                &self,
                id: UserId,
                patch: ProfilePatch,
            ) -> ::std::result::Result<User, StoreError> {
                $crate::directory::sql::durably!(self, |connection| users::update_profile(
                    connection, id, patch
                ))
            }

            async fn set_password(
                &self,
                id: UserId,
                password_hash: String,
            ) -> ::std::result::Result<i64, StoreError> {
                $crate::directory::sql::durably!(self, |connection| users::bump_token_version(
                    connection,
                    id,
                    Some(password_hash)
                ))
            }

            async fn bump_token_version(
                &self,
                id: UserId,
            ) -> ::std::result::Result<i64, StoreError> {
                $crate::directory::sql::durably!(self, |connection| users::bump_token_version(
                    connection, id, None
                ))
            }

            async fn search_users(
                &self,
                query: &str,
                limit: u32,
            ) -> ::std::result::Result<Vec<User>, StoreError> {
                users::search(self.database.readers()?, query, limit).await
            }

            async fn create_friend_request(
                &self,
                from: UserId,
                to: UserId,
                greeting: &str,
            ) -> ::std::result::Result<FriendRequest, StoreError> {
                let greeting = greeting.to_owned();
                $crate::directory::sql::durably!(self, |connection| contacts::create_request(
                    connection, from, to, greeting
                ))
            }

            async fn friend_request(
                &self,
                id: RequestId,
            ) -> ::std::result::Result<Option<FriendRequest>, StoreError> {
                contacts::request(self.database.readers()?, id).await
            }

            async fn friend_requests(
                &self,
                user: UserId,
                direction: Direction,
            ) -> ::std::result::Result<Vec<FriendRequest>, StoreError> {
                contacts::requests(self.database.readers()?, user, direction).await
            }

            async fn resolve_friend_request(
                &self,
                id: RequestId,
                accept: bool,
            ) -> ::std::result::Result<FriendRequest, StoreError> {
                $crate::directory::sql::durably!(self, |connection| contacts::resolve_request(
                    connection, id, accept
                ))
            }

            async fn friends(
                &self,
                user: UserId,
            ) -> ::std::result::Result<Vec<Friend>, StoreError> {
                contacts::friends(self.database.readers()?, user).await
            }

            async fn friend_ids(
                &self,
                user: UserId,
            ) -> ::std::result::Result<Vec<UserId>, StoreError> {
                contacts::friend_ids(self.database.readers()?, user).await
            }

            async fn are_friends(
                &self,
                a: UserId,
                b: UserId,
            ) -> ::std::result::Result<bool, StoreError> {
                contacts::are_friends(self.database.readers()?, a, b).await
            }

            async fn delete_friend(
                &self,
                a: UserId,
                b: UserId,
            ) -> ::std::result::Result<bool, StoreError> {
                $crate::directory::sql::durably!(self, |connection| contacts::delete_friend(
                    connection, a, b
                ))
            }

            async fn set_remark(
                &self,
                owner: UserId,
                friend: UserId,
                remark: Option<String>,
            ) -> ::std::result::Result<(), StoreError> {
                $crate::directory::sql::durably!(self, |connection| contacts::set_remark(
                    connection, owner, friend, remark
                ))
            }

            async fn block(
                &self,
                owner: UserId,
                target: UserId,
            ) -> ::std::result::Result<(), StoreError> {
                $crate::directory::sql::durably!(self, |connection| contacts::block(
                    connection, owner, target
                ))
            }

            async fn unblock(
                &self,
                owner: UserId,
                target: UserId,
            ) -> ::std::result::Result<bool, StoreError> {
                $crate::directory::sql::durably!(self, |connection| contacts::unblock(
                    connection, owner, target
                ))
            }

            async fn is_blocked(
                &self,
                owner: UserId,
                target: UserId,
            ) -> ::std::result::Result<bool, StoreError> {
                contacts::is_blocked(self.database.readers()?, owner, target).await
            }

            async fn blocked(&self, owner: UserId) -> ::std::result::Result<Vec<User>, StoreError> {
                contacts::blocked(self.database.readers()?, owner).await
            }

            async fn create_group(
                &self,
                owner: UserId,
                group: NewGroup,
            ) -> ::std::result::Result<Group, StoreError> {
                $crate::directory::sql::durably!(self, |connection| groups::create(
                    connection, owner, group
                ))
            }

            async fn group(&self, id: GroupId) -> ::std::result::Result<Option<Group>, StoreError> {
                groups::group(self.database.readers()?, id).await
            }

            async fn update_group(
                &self,
                id: GroupId,
                patch: GroupPatch,
            ) -> ::std::result::Result<Group, StoreError> {
                $crate::directory::sql::durably!(self, |connection| groups::update(
                    connection, id, patch
                ))
            }

            async fn dissolve_group(&self, id: GroupId) -> ::std::result::Result<(), StoreError> {
                $crate::directory::sql::durably!(self, |connection| groups::dissolve(
                    connection, id
                ))
            }

            async fn add_member(
                &self,
                group: GroupId,
                user: UserId,
                role: Role,
            ) -> ::std::result::Result<Member, StoreError> {
                $crate::directory::sql::durably!(self, |connection| groups::add_member(
                    connection, group, user, role
                ))
            }

            async fn remove_member(
                &self,
                group: GroupId,
                user: UserId,
            ) -> ::std::result::Result<bool, StoreError> {
                $crate::directory::sql::durably!(self, |connection| groups::remove_member(
                    connection, group, user
                ))
            }

            async fn member(
                &self,
                group: GroupId,
                user: UserId,
            ) -> ::std::result::Result<Option<Member>, StoreError> {
                groups::member(self.database.readers()?, group, user).await
            }

            async fn members(
                &self,
                group: GroupId,
            ) -> ::std::result::Result<Vec<Member>, StoreError> {
                groups::members(self.database.readers()?, group).await
            }

            async fn member_ids(
                &self,
                group: GroupId,
            ) -> ::std::result::Result<Vec<UserId>, StoreError> {
                groups::member_ids(self.database.readers()?, group).await
            }

            async fn set_role(
                &self,
                group: GroupId,
                user: UserId,
                role: Role,
            ) -> ::std::result::Result<(), StoreError> {
                $crate::directory::sql::durably!(self, |connection| groups::set_role(
                    connection, group, user, role
                ))
            }

            async fn transfer_ownership(
                &self,
                group: GroupId,
                from: UserId,
                to: UserId,
            ) -> ::std::result::Result<(), StoreError> {
                $crate::directory::sql::durably!(self, |connection| groups::transfer_ownership(
                    connection, group, from, to
                ))
            }

            async fn set_muted(
                &self,
                group: GroupId,
                user: UserId,
                muted: bool,
            ) -> ::std::result::Result<(), StoreError> {
                $crate::directory::sql::durably!(self, |connection| groups::set_muted(
                    connection, group, user, muted
                ))
            }

            async fn user_groups(
                &self,
                user: UserId,
            ) -> ::std::result::Result<Vec<(Group, Role)>, StoreError> {
                groups::user_groups(self.database.readers()?, user).await
            }

            async fn create_join_request(
                &self,
                group: GroupId,
                user: UserId,
                message: &str,
            ) -> ::std::result::Result<JoinRequest, StoreError> {
                let message = message.to_owned();
                $crate::directory::sql::durably!(self, |connection| join_requests::create(
                    connection, group, user, message
                ))
            }

            async fn join_requests(
                &self,
                group: GroupId,
            ) -> ::std::result::Result<Vec<JoinRequest>, StoreError> {
                join_requests::pending(self.database.readers()?, group).await
            }

            async fn join_request(
                &self,
                id: RequestId,
            ) -> ::std::result::Result<Option<JoinRequest>, StoreError> {
                join_requests::request(self.database.readers()?, id).await
            }

            async fn resolve_join_request(
                &self,
                id: RequestId,
                accept: bool,
            ) -> ::std::result::Result<JoinRequest, StoreError> {
                $crate::directory::sql::durably!(self, |connection| join_requests::resolve(
                    connection, id, accept
                ))
            }
        }
    };
}

pub(crate) use {durably, settle, sql_directory};
