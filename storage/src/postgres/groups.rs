//! Groups on PostgreSQL, in the SQL shared with SQLite
//! (`crate::directory::sql::groups`). Each write is one transaction that
//! first locks the group's row (`FOR UPDATE`), so changes to one group
//! from several broker processes take turns.

crate::directory::sql::groups::sql_groups!(sqlx::PgConnection, sqlx::Postgres, " FOR UPDATE");
