//! Users (registration, accounts, profiles, token versions, search) over
//! the `users` table, written once for both SQL backends (see `contacts`
//! beside it for why a macro). Reads take any executor (the read pool, or
//! a write's connection); the unique index on `username_key` settles races
//! between processes.

/// A backend's `users` module but for `users` (the users with some ids),
/// for `$connection` and `$database` (see `sql_contacts!`). That one the
/// backend writes beside it, with the names this brings in scope: a list
/// of ids binds as an array on PostgreSQL, and SQLite, which has no
/// arrays, reads it from JSON.
macro_rules! sql_users {
    ($connection:ty, $database:ty) => {
        use sqlx::Executor;

        use $crate::common::unix_millis;
        use $crate::directory::{Account, NewUser, ProfilePatch, User, UserId};
        use $crate::rows::{self, account_columns, user_columns};
        use $crate::StoreError;

        pub(super) async fn create(
            connection: &mut $connection,
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
            executor: impl Executor<'e, Database = $database>,
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
            executor: impl Executor<'e, Database = $database>,
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
            executor: impl Executor<'e, Database = $database>,
            username: &str,
        ) -> Result<Option<Account>, StoreError> {
            by_key(executor, &rows::username_key(username)).await
        }

        /// Fails with `NotFound` unless the user exists.
        pub(super) async fn require(
            connection: &mut $connection,
            id: UserId,
        ) -> Result<(), StoreError> {
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(connection)
                .await?;
            found
                .map(drop)
                .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
        }

        pub(super) async fn update_profile(
            connection: &mut $connection,
            id: UserId,
            patch: ProfilePatch,
        ) -> Result<User, StoreError> {
            let updated = sqlx::query(
                "UPDATE users SET nickname = coalesce($1, nickname), \
                 avatar = coalesce($2, avatar), signature = coalesce($3, signature) \
                 WHERE id = $4",
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
            connection: &mut $connection,
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
            executor: impl Executor<'e, Database = $database>,
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
    };
}

pub(crate) use sql_users;
