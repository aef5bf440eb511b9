//! Join requests on PostgreSQL: asking to join a group that needs approval,
//! and an admin's answer, which adds the member in the same transaction.

use sqlx::{Executor, PgConnection, Postgres};

use super::groups::{live, role_of};
use super::{unix_millis, users};
use crate::directory::{GroupId, JoinRequest, RequestId, UserId};
use crate::rows::{self, join_request_columns};
use crate::StoreError;

pub(super) async fn create(
    connection: &mut PgConnection,
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
        "SELECT id FROM join_requests WHERE group_id = $1 AND user_id = $2 AND status = 'pending'",
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
    executor: impl Executor<'e, Database = Postgres>,
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
    executor: impl Executor<'e, Database = Postgres>,
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
    connection: &mut PgConnection,
    id: RequestId,
    accept: bool,
) -> Result<JoinRequest, StoreError> {
    let status = if accept { "accepted" } else { "rejected" };
    let now = unix_millis();
    let updated = sqlx::query(
        "UPDATE join_requests SET status = $1, resolved_at = $2 \
         WHERE id = $3 AND status = 'pending'",
    )
    .bind(status)
    .bind(now)
    .bind(id)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    let request = request(&mut *connection, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("join request {id}")))?;
    if updated == 0 {
        return Err(StoreError::Conflict(format!(
            "join request {id} is already {}",
            request.status.as_str()
        )));
    }
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
