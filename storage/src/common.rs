//! What both SQL backends share beyond the row format: the clock their
//! records are stamped with and the runner for their embedded migrations.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

/// A migrator over embedded `(version, description, sql)` migrations.
pub(crate) fn migrator(migrations: &[(i64, &str, &'static str)]) -> Migrator {
    let migrations = migrations
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                description.to_owned().into(),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// Now, in unix milliseconds.
pub(crate) fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
