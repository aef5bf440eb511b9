//! Users on PostgreSQL, in the SQL shared with SQLite
//! (`crate::directory::sql::users`); writes run in one transaction each.

crate::directory::sql::users::sql_users!(sqlx::PgConnection, sqlx::Postgres);

/// The users with these ids, bound as one array.
pub(super) async fn users<'e>(
    executor: impl Executor<'e, Database = sqlx::Postgres>,
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
