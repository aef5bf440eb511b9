//! Contacts on SQLite, in the SQL shared with PostgreSQL
//! (`crate::directory::sql::contacts`). Writes run as writer jobs, so
//! their checks ("not already friends", "no pending request") see no other
//! write in between.

crate::directory::sql::contacts::sql_contacts!(sqlx::SqliteConnection, sqlx::Sqlite);
