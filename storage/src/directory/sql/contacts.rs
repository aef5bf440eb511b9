//! Contacts (friend requests, friendships with remarks, blocks) written
//! once for both SQL backends, with `$n` placeholders and `RETURNING`,
//! which SQLite reads as PostgreSQL does.
//!
//! [`sql_contacts!`] expands, as a backend's `contacts` module, to the
//! functions [`sql_directory!`](super::sql_directory) calls. A macro and
//! not functions generic over `sqlx::Database`: the bounds each query
//! needs (every bound and decoded type, the connection as an executor)
//! would have to be restated on every function. Writes take the
//! connection of the backend's write (see `durably!`), so their checks
//! ("not already friends", "no pending request") and changes happen in
//! one transaction.

/// A backend's `contacts` module, for `$connection` (the write's
/// connection type) and `$database` (its `sqlx::Database`). Expects a
/// sibling `users` module with `require`.
macro_rules! sql_contacts {
    ($connection:ty, $database:ty) => {
        use sqlx::Executor;

        use super::users;
        use $crate::common::unix_millis;
        use $crate::directory::{Direction, Friend, FriendRequest, RequestId, User, UserId};
        use $crate::rows::{self, friend_columns, friend_request_columns, user_columns};
        use $crate::StoreError;

        pub(super) async fn create_request(
            connection: &mut $connection,
            from: UserId,
            to: UserId,
            greeting: String,
        ) -> Result<FriendRequest, StoreError> {
            if from == to {
                return Err(StoreError::Rejected(
                    "a user cannot befriend themselves".into(),
                ));
            }
            users::require(&mut *connection, from).await?;
            users::require(&mut *connection, to).await?;
            if are_friends(&mut *connection, from, to).await? {
                return Err(StoreError::Conflict(format!(
                    "users {from} and {to} are already friends"
                )));
            }
            let pending: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM friend_requests WHERE status = 'pending' \
                 AND ((from_user = $1 AND to_user = $2) OR (from_user = $3 AND to_user = $4))",
            )
            .bind(from)
            .bind(to)
            .bind(to)
            .bind(from)
            .fetch_optional(&mut *connection)
            .await?;
            if let Some(pending) = pending {
                return Err(StoreError::Conflict(format!(
                    "friend request {pending} between {from} and {to} is pending"
                )));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO friend_requests (from_user, to_user, greeting, status, created_at) \
                 VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
            )
            .bind(from)
            .bind(to)
            .bind(greeting)
            .bind(unix_millis())
            .fetch_one(&mut *connection)
            .await?;
            request(connection, id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("friend request {id} vanished")))
        }

        pub(super) async fn request<'e>(
            executor: impl Executor<'e, Database = $database>,
            id: RequestId,
        ) -> Result<Option<FriendRequest>, StoreError> {
            let row = sqlx::query(concat!(
                "SELECT ",
                friend_request_columns!(),
                " FROM friend_requests r WHERE r.id = $1"
            ))
            .bind(id)
            .fetch_optional(executor)
            .await?;
            row.as_ref().map(rows::friend_request).transpose()
        }

        pub(super) async fn requests<'e>(
            executor: impl Executor<'e, Database = $database>,
            user: UserId,
            direction: Direction,
        ) -> Result<Vec<FriendRequest>, StoreError> {
            let query = match direction {
                Direction::Incoming => concat!(
                    "SELECT ",
                    friend_request_columns!(),
                    " FROM friend_requests r WHERE r.to_user = $1 AND r.status = 'pending' \
                     ORDER BY r.created_at DESC, r.id DESC"
                ),
                Direction::Outgoing => concat!(
                    "SELECT ",
                    friend_request_columns!(),
                    " FROM friend_requests r WHERE r.from_user = $1 AND r.status = 'pending' \
                     ORDER BY r.created_at DESC, r.id DESC"
                ),
            };
            let found = sqlx::query(query).bind(user).fetch_all(executor).await?;
            found.iter().map(rows::friend_request).collect()
        }

        pub(super) async fn resolve_request(
            connection: &mut $connection,
            id: RequestId,
            accept: bool,
        ) -> Result<FriendRequest, StoreError> {
            let now = unix_millis();
            let request = $crate::directory::sql::settle!(
                connection,
                request,
                "friend_requests",
                "friend request",
                id,
                accept,
                now
            );
            if accept {
                for (owner, friend) in [(request.from, request.to), (request.to, request.from)] {
                    sqlx::query(
                        "INSERT INTO friendships (owner, friend, since) VALUES ($1, $2, $3) \
                         ON CONFLICT (owner, friend) DO NOTHING",
                    )
                    .bind(owner)
                    .bind(friend)
                    .bind(now)
                    .execute(&mut *connection)
                    .await?;
                }
            }
            Ok(request)
        }

        pub(super) async fn friends<'e>(
            executor: impl Executor<'e, Database = $database>,
            user: UserId,
        ) -> Result<Vec<Friend>, StoreError> {
            let found = sqlx::query(concat!(
                "SELECT ",
                friend_columns!(),
                " FROM friendships f JOIN users u ON u.id = f.friend WHERE f.owner = $1 \
                 ORDER BY f.since, f.friend"
            ))
            .bind(user)
            .fetch_all(executor)
            .await?;
            found.iter().map(rows::friend).collect()
        }

        pub(super) async fn friend_ids<'e>(
            executor: impl Executor<'e, Database = $database>,
            user: UserId,
        ) -> Result<Vec<UserId>, StoreError> {
            Ok(sqlx::query_scalar(
                "SELECT friend FROM friendships WHERE owner = $1 ORDER BY friend",
            )
            .bind(user)
            .fetch_all(executor)
            .await?)
        }

        pub(super) async fn are_friends<'e>(
            executor: impl Executor<'e, Database = $database>,
            a: UserId,
            b: UserId,
        ) -> Result<bool, StoreError> {
            Ok(sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM friendships WHERE owner = $1 AND friend = $2)",
            )
            .bind(a)
            .bind(b)
            .fetch_one(executor)
            .await?)
        }

        pub(super) async fn delete_friend(
            connection: &mut $connection,
            a: UserId,
            b: UserId,
        ) -> Result<bool, StoreError> {
            let deleted = sqlx::query(
                "DELETE FROM friendships \
                 WHERE (owner = $1 AND friend = $2) OR (owner = $3 AND friend = $4)",
            )
            .bind(a)
            .bind(b)
            .bind(b)
            .bind(a)
            .execute(connection)
            .await?
            .rows_affected();
            Ok(deleted > 0)
        }

        pub(super) async fn set_remark(
            connection: &mut $connection,
            owner: UserId,
            friend: UserId,
            remark: Option<String>,
        ) -> Result<(), StoreError> {
            let updated =
                sqlx::query("UPDATE friendships SET remark = $1 WHERE owner = $2 AND friend = $3")
                    .bind(remark)
                    .bind(owner)
                    .bind(friend)
                    .execute(connection)
                    .await?
                    .rows_affected();
            if updated == 0 {
                return Err(StoreError::NotFound(format!(
                    "users {owner} and {friend} are not friends"
                )));
            }
            Ok(())
        }

        pub(super) async fn block(
            connection: &mut $connection,
            owner: UserId,
            target: UserId,
        ) -> Result<(), StoreError> {
            if owner == target {
                return Err(StoreError::Rejected(
                    "a user cannot block themselves".into(),
                ));
            }
            users::require(&mut *connection, owner).await?;
            users::require(&mut *connection, target).await?;
            sqlx::query(
                "INSERT INTO blocks (owner, target, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (owner, target) DO NOTHING",
            )
            .bind(owner)
            .bind(target)
            .bind(unix_millis())
            .execute(connection)
            .await?;
            Ok(())
        }

        pub(super) async fn unblock(
            connection: &mut $connection,
            owner: UserId,
            target: UserId,
        ) -> Result<bool, StoreError> {
            let deleted = sqlx::query("DELETE FROM blocks WHERE owner = $1 AND target = $2")
                .bind(owner)
                .bind(target)
                .execute(connection)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        }

        pub(super) async fn is_blocked<'e>(
            executor: impl Executor<'e, Database = $database>,
            owner: UserId,
            target: UserId,
        ) -> Result<bool, StoreError> {
            Ok(sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM blocks WHERE owner = $1 AND target = $2)",
            )
            .bind(owner)
            .bind(target)
            .fetch_one(executor)
            .await?)
        }

        pub(super) async fn blocked<'e>(
            executor: impl Executor<'e, Database = $database>,
            owner: UserId,
        ) -> Result<Vec<User>, StoreError> {
            let found = sqlx::query(concat!(
                "SELECT ",
                user_columns!(),
                " FROM blocks b JOIN users u ON u.id = b.target WHERE b.owner = $1 \
                 ORDER BY b.created_at, b.target"
            ))
            .bind(owner)
            .fetch_all(executor)
            .await?;
            found.iter().map(rows::user).collect()
        }
    };
}

pub(crate) use sql_contacts;
