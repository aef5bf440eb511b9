//! Store errors, as the broker sees them, and how each backend's own errors
//! map onto them. This module decides what a failure means to the caller; it
//! must not retry or log.

/// Why a store operation failed. The broker turns each into an ERROR frame
/// for the client whose frame caused it; nothing already stored is lost.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the operation; retrying
    /// later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (corruption or a schema mismatch);
    /// an operator must look.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The store is shutting down and takes no more writes.
    #[error("store is closed")]
    Closed,
    /// The backend refused this operation's data (a constraint such as an
    /// empty queue name). Retrying the same call fails again: report it to
    /// the client whose frame caused it.
    #[error("store rejected the operation: {0}")]
    Rejected(String),
    /// The operation clashes with what is already stored: a taken username,
    /// an existing friendship or pending request, a membership that exists,
    /// a request that was already resolved. Retrying the same call fails
    /// again; tell the client (the HTTP API answers 409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A record the operation needs does not exist (an unknown user, group
    /// or request, a dissolved group, a friendship or membership that is not
    /// there). Tell the client (the HTTP API answers 404).
    #[error("not found: {0}")]
    NotFound(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match error {
            sqlx::Error::PoolClosed => StoreError::Closed,
            sqlx::Error::Database(ref database) => match database.kind() {
                ErrorKind::UniqueViolation => StoreError::Conflict(error.to_string()),
                // A reference to a user or group that is not (or no longer)
                // there.
                ErrorKind::ForeignKeyViolation => StoreError::NotFound(error.to_string()),
                ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation
                | ErrorKind::ExclusionViolation => StoreError::Rejected(error.to_string()),
                // SQLSTATE class 22, "data exception": a value PostgreSQL
                // cannot keep, such as a NUL character in text.
                _ if is_postgres_data_exception(database.as_ref()) => {
                    StoreError::Rejected(error.to_string())
                }
                _ => StoreError::Unavailable(error.to_string()),
            },
            // A column that does not decode as its schema says means the file
            // was written by something else (or damaged): retrying won't help.
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(error.to_string()),
            sqlx::Error::Migrate(migrate) => StoreError::from(*migrate),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn is_postgres_data_exception(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|error| error.code().starts_with("22"))
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError;
        match error {
            MigrateError::Execute(inner) => StoreError::from(inner),
            // Applied migrations that differ from, or are missing in, this
            // build: the database belongs to another version of Herald.
            other => StoreError::Corrupt(format!("schema: {other}")),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    /// JSON only stores header lists, which always encode; a decode failure
    /// means a stored row was damaged.
    fn from(error: serde_json::Error) -> Self {
        StoreError::Corrupt(format!("headers: {error}"))
    }
}
