//! Store errors, as the broker sees them.

/// Why a store operation failed. The broker turns each into an ERROR frame
/// for the client whose frame caused it; nothing already stored is lost.
#[derive(Debug, thiserror::Error)]
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
}
