//! Contacts on PostgreSQL, in the SQL shared with SQLite
//! (`crate::directory::sql::contacts`). Each write is one transaction on
//! the pool; between processes, the unique index on pending requests and
//! the status update settle races.

crate::directory::sql::contacts::sql_contacts!(sqlx::PgConnection, sqlx::Postgres);
