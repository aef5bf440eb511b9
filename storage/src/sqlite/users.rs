//! Users on SQLite, in the SQL shared with PostgreSQL
//! (`crate::directory::sql::users`); writes run as writer jobs.

crate::directory::sql::users::sql_users!(sqlx::SqliteConnection, sqlx::Sqlite);

/// The users with these ids, bound as one JSON list: SQLite has no arrays.
pub(super) async fn users<'e>(
    executor: impl Executor<'e, Database = sqlx::Sqlite>,
    ids: &[UserId],
) -> Result<Vec<User>, StoreError> {
    let ids = serde_json::to_string(ids)?;
    let found = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.id IN (SELECT value FROM json_each($1)) ORDER BY u.id"
    ))
    .bind(ids)
    .fetch_all(executor)
    .await?;
    found.iter().map(rows::user).collect()
}
