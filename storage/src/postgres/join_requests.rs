//! Join requests on PostgreSQL, in the SQL shared with SQLite
//! (`crate::directory::sql::join_requests`): the answer adds the member in
//! the same transaction.

crate::directory::sql::join_requests::sql_join_requests!(sqlx::PgConnection, sqlx::Postgres);
