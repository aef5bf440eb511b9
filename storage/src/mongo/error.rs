//! How the MongoDB driver's errors map onto [`StoreError`], and how to
//! recognise the duplicate-key error that the backend's unique indexes
//! use in place of transactions.

use mongodb::error::{Error, ErrorKind, WriteFailure};

use crate::StoreError;

/// The server's code for a write that breaks a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// True when `error` is a write refused by a unique index.
pub(super) fn is_duplicate_key(error: &Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(insert) => insert
            .write_errors
            .iter()
            .flatten()
            .any(|write| write.code == DUPLICATE_KEY),
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        _ => false,
    }
}

impl From<Error> for StoreError {
    fn from(error: Error) -> Self {
        if is_duplicate_key(&error) {
            return StoreError::Conflict(error.to_string());
        }
        match error.kind.as_ref() {
            ErrorKind::Shutdown => StoreError::Closed,
            // A stored document that does not read back as written.
            ErrorKind::BsonDeserialization(_) => StoreError::Corrupt(error.to_string()),
            // A value the driver cannot encode (such as a key with NUL):
            // the same call fails again.
            ErrorKind::BsonSerialization(_) | ErrorKind::InvalidArgument { .. } => {
                StoreError::Rejected(error.to_string())
            }
            // Everything else (network, server selection, write concern,
            // a server refusing a command) may pass on retry.
            _ => StoreError::Unavailable(error.to_string()),
        }
    }
}
