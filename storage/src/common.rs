//! What both SQL backends share beyond the row format: how they are opened,
//! the clock their records are stamped with and the runner for their
//! embedded migrations.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

/// How a backend's database is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Commit many concurrent writes in one transaction (one fsync), the
    /// default. Off, every write commits alone: only for measuring what
    /// group commit buys (`benches/durable.rs`).
    pub group_commit: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { group_commit: true }
    }
}

impl Options {
    /// The most writes the writer commits in one transaction.
    pub(crate) fn max_batch(self, group_limit: usize) -> usize {
        if self.group_commit {
            group_limit
        } else {
            1
        }
    }
}

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

#[cfg(test)]
mod tests {
    /// Checks that each backend's embedded migrations match its folder.
    #[test]
    fn every_migration_file_is_embedded() {
        check_embedded("sqlite", crate::sqlite::MIGRATIONS);
        check_embedded("postgres", crate::postgres::MIGRATIONS);
    }

    fn check_embedded(backend: &str, migrations: &[(i64, &str, &str)]) {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .expect("migrations folder")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let embedded: Vec<String> = migrations
            .iter()
            .map(|&(version, description, _)| {
                format!("{version:04}_{}.sql", description.replace(' ', "_"))
            })
            .collect();
        assert_eq!(
            files, embedded,
            "migrations/{backend}/ and its embedded list differ"
        );
        for (&(version, _, sql), file) in migrations.iter().zip(&files) {
            let on_disk = std::fs::read_to_string(folder.join(file)).expect("read migration");
            assert_eq!(on_disk, sql, "migration {version} differs from {file}");
        }
    }
}
