//! What the Herald broker keeps, behind traits, and the backends that keep it.
//!
//! The broker's delivery layer calls these traits; sessions never touch a
//! database. Only this crate names sqlx (and later mongodb and redis).
//!
//! - [`QueueStore`]: durable `/queue/{name}` messages.
//! - [`Directory`]: users, contacts, groups and memberships.
//! - [`MessageLog`]: chat history with a contiguous seq per conversation.
//!
//! [`Stores::sqlite`] and [`Stores::postgres`] open all three on one
//! backend. Every backend passes the same contract tests
//! (`tests/contract/`): `cargo test -p herald-storage` runs them on SQLite
//! and on PostgreSQL, on the server `HERALD_TEST_POSTGRES_URL` names or on
//! a throwaway cluster the tests start with `scripts/postgres.sh`.

mod common;
pub mod directory;
mod error;
pub mod messages;
pub mod postgres;
mod queue;
mod rows;
pub mod sqlite;
mod stores;

pub use directory::{
    Account, Direction, Directory, Friend, FriendRequest, Group, GroupId, GroupPatch, JoinRequest,
    Member, NewGroup, NewUser, ProfilePatch, RequestId, RequestStatus, Role, User, UserId,
};
pub use error::StoreError;
pub use messages::{MessageLog, NewMessage, StoredMessage};
pub use postgres::{PgDatabase, PgDirectory, PgMessageLog, PgQueueStore};
pub use queue::{QueueStore, QueuedMessage, StoredId};
pub use sqlite::{SqliteDatabase, SqliteDirectory, SqliteMessageLog, SqliteQueueStore};
pub use stores::Stores;
