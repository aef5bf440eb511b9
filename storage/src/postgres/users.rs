//! Users on PostgreSQL: registration, accounts, profiles, token versions and
//! search, over the `users` table. Reads take any executor (the pool, or a
//! transaction's connection); writes run in one transaction each, and the
//! unique index on `username_key` settles races between processes.

use sqlx::{Executor, PgConnection, Postgres};

use super::unix_millis;
use crate::directory::{Account, NewUser, ProfilePatch, User, UserId};
use crate::rows::{self, account_columns, user_columns};
use crate::StoreError;

pub(super) async fn create(
    connection: &mut PgConnection,
    user: NewUser,
) -> Result<Account, StoreError> {
    let key = rows::username_key(&user.username);
    if by_key(&mut *connection, &key).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "username {:?} is taken",
            user.username
        )));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, username_key, password_hash, nickname, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&user.username)
    .bind(&key)
    .bind(&user.password_hash)
    .bind(&user.nickname)
    .bind(unix_millis())
    .fetch_one(&mut *connection)
    .await?;
    account(connection, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {id} vanished")))
}

pub(super) async fn account<'e>(
    executor: impl Executor<'e, Database = Postgres>,
    id: UserId,
) -> Result<Option<Account>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM users u WHERE u.id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(rows::account).transpose()
}

async fn by_key<'e>(
    executor: impl Executor<'e, Database = Postgres>,
    key: &str,
) -> Result<Option<Account>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM users u WHERE u.username_key = $1"
    ))
    .bind(key)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(rows::account).transpose()
}

pub(super) async fn account_by_username<'e>(
    executor: impl Executor<'e, Database = Postgres>,
    username: &str,
) -> Result<Option<Account>, StoreError> {
    by_key(executor, &rows::username_key(username)).await
}

pub(super) async fn users<'e>(
    executor: impl Executor<'e, Database = Postgres>,
    ids: &[UserId],
) -> Result<Vec<User>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.id = ANY($1) ORDER BY u.id"
    ))
    .bind(ids)
    .fetch_all(executor)
    .await?;
    found.iter().map(rows::user).collect()
}

/// Fails with `NotFound` unless the user exists.
pub(super) async fn require(connection: &mut PgConnection, id: UserId) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(connection)
        .await?;
    found
        .map(drop)
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
}

pub(super) async fn update_profile(
    connection: &mut PgConnection,
    id: UserId,
    patch: ProfilePatch,
) -> Result<User, StoreError> {
    let updated = sqlx::query(
        "UPDATE users SET nickname = coalesce($1, nickname), avatar = coalesce($2, avatar), \
         signature = coalesce($3, signature) WHERE id = $4",
    )
    .bind(patch.nickname)
    .bind(patch.avatar)
    .bind(patch.signature)
    .bind(id)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound(format!("user {id}")));
    }
    let account = account(connection, id).await?;
    account
        .map(|account| account.user)
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
}

/// Bumps the token version, replacing the password hash when one is given;
/// returns the new version.
pub(super) async fn bump_token_version(
    connection: &mut PgConnection,
    id: UserId,
    password_hash: Option<String>,
) -> Result<i64, StoreError> {
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET password_hash = coalesce($1, password_hash), \
         token_version = token_version + 1 WHERE id = $2 RETURNING token_version",
    )
    .bind(password_hash)
    .bind(id)
    .fetch_optional(connection)
    .await?;
    version.ok_or_else(|| StoreError::NotFound(format!("user {id}")))
}

pub(super) async fn search<'e>(
    executor: impl Executor<'e, Database = Postgres>,
    query: &str,
    limit: u32,
) -> Result<Vec<User>, StoreError> {
    let key = rows::username_key(query);
    let found = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.username_key LIKE $1 ESCAPE '\\' \
         ORDER BY u.username_key = $2 DESC, length(u.username_key), u.id LIMIT $3"
    ))
    .bind(rows::contains_pattern(&key))
    .bind(&key)
    .bind(rows::limit(limit))
    .fetch_all(executor)
    .await?;
    found.iter().map(rows::user).collect()
}
