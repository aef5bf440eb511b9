//! Groups on SQLite, in the SQL shared with PostgreSQL
//! (`crate::directory::sql::groups`). Writes run as writer jobs, so a
//! group's checks and changes see no other write in between: no row lock.

crate::directory::sql::groups::sql_groups!(sqlx::SqliteConnection, sqlx::Sqlite, "");
