//! Join requests on SQLite, in the SQL shared with PostgreSQL
//! (`crate::directory::sql::join_requests`): the answer adds the member in
//! the same writer job.

crate::directory::sql::join_requests::sql_join_requests!(sqlx::SqliteConnection, sqlx::Sqlite);
