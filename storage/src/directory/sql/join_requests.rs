//! Join requests written once for both SQL backends (see `contacts` beside
//! it for why a macro): asking to join a group that needs approval, and an
//! admin's answer, which adds the member in the same transaction.

/// A backend's `join_requests` module, for `$connection` and `$database`
/// (see `sql_contacts!`). Expects sibling `users` and `groups` modules.
macro_rules! sql_join_requests {
    ($connection:ty, $database:ty) => {
        use sqlx::Executor;

        use super::groups::{live, role_of};
        use super::users;
        use $crate::common::unix_millis;
        use $crate::directory::{GroupId, JoinRequest, RequestId, UserId};
        use $crate::rows::{self, join_request_columns};
        use $crate::StoreError;

        pub(super) async fn create(
            connection: &mut $connection,
            group: GroupId,
            user: UserId,
            message: String,
        ) -> Result<JoinRequest, StoreError> {
            live(&mut *connection, group).await?;
            users::require(&mut *connection, user).await?;
            if role_of(&mut *connection, group, user).await?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "user {user} is already a member of group {group}"
                )));
            }
            let pending: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM join_requests \
                 WHERE group_id = $1 AND user_id = $2 AND status = 'pending'",
            )
            .bind(group)
            .bind(user)
            .fetch_optional(&mut *connection)
            .await?;
            if let Some(pending) = pending {
                return Err(StoreError::Conflict(format!(
                    "join request {pending} of user {user} for group {group} is pending"
                )));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO join_requests (group_id, user_id, message, status, created_at) \
                 VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
            )
            .bind(group)
            .bind(user)
            .bind(message)
            .bind(unix_millis())
            .fetch_one(&mut *connection)
            .await?;
            request(connection, id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("join request {id} vanished")))
        }

        pub(super) async fn pending<'e>(
            executor: impl Executor<'e, Database = $database>,
            group: GroupId,
        ) -> Result<Vec<JoinRequest>, StoreError> {
            let found = sqlx::query(concat!(
                "SELECT ",
                join_request_columns!(),
                " FROM join_requests j WHERE j.group_id = $1 AND j.status = 'pending' \
                 ORDER BY j.created_at, j.id"
            ))
            .bind(group)
            .fetch_all(executor)
            .await?;
            found.iter().map(rows::join_request).collect()
        }

        pub(super) async fn request<'e>(
            executor: impl Executor<'e, Database = $database>,
            id: RequestId,
        ) -> Result<Option<JoinRequest>, StoreError> {
            let row = sqlx::query(concat!(
                "SELECT ",
                join_request_columns!(),
                " FROM join_requests j WHERE j.id = $1"
            ))
            .bind(id)
            .fetch_optional(executor)
            .await?;
            row.as_ref().map(rows::join_request).transpose()
        }

        pub(super) async fn resolve(
            connection: &mut $connection,
            id: RequestId,
            accept: bool,
        ) -> Result<JoinRequest, StoreError> {
            let now = unix_millis();
            let request = $crate::directory::sql::settle!(
                connection,
                request,
                "join_requests",
                "join request",
                id,
                accept,
                now
            );
            if accept {
                live(&mut *connection, request.group).await?;
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id, role, joined_at) \
                     VALUES ($1, $2, 'member', $3) ON CONFLICT (group_id, user_id) DO NOTHING",
                )
                .bind(request.group)
                .bind(request.user)
                .bind(now)
                .execute(connection)
                .await?;
            }
            Ok(request)
        }
    };
}

pub(crate) use sql_join_requests;
