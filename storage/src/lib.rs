//! What the Herald broker keeps, behind traits, and the backends that keep it.
//!
//! The broker's delivery layer calls these traits; sessions never touch a
//! database. Only this crate names sqlx (and later mongodb and redis).

mod error;
mod queue;
pub mod sqlite;

pub use error::StoreError;
pub use queue::{QueueStore, QueuedMessage, StoredId};
pub use sqlite::SqliteQueueStore;
