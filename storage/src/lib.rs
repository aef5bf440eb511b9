//! What the Herald broker keeps, behind traits, and the backends that keep it.
//!
//! The broker's delivery layer calls these traits; sessions never touch a
//! database. Only this crate names sqlx (and later mongodb and redis).
//!
//! - [`QueueStore`]: durable `/queue/{name}` messages.
//! - [`Directory`]: users, contacts, groups and memberships.
//! - [`MessageLog`]: chat history with a contiguous seq per conversation,
//!   with dedupe, recall, search, retention and the conversation index.
//! - [`Cursors`]: delivered and read cursors, mentions, hidden messages.
//! - [`DeadLetters`]: deliveries given up on.
//! - [`FileStore`]: uploaded files' metadata and sharing.
//!
//! [`Stores::sqlite`] and [`Stores::postgres`] open them all on one
//! backend. Every backend passes the same contract tests
//! (`tests/contract/`): `cargo test -p herald-storage` runs them on SQLite
//! and on PostgreSQL, on the server `HERALD_TEST_POSTGRES_URL` names or on
//! a throwaway cluster the tests start with `scripts/postgres.sh`.

pub mod cluster;
mod common;
pub mod cursors;
pub mod dead_letters;
pub mod directory;
mod error;
pub mod files;
mod group_commit;
pub mod messages;
pub mod mongo;
pub mod postgres;
mod queue;
mod rows;
pub mod sqlite;
mod stores;

pub use common::Options;
pub use cursors::Cursors;
pub use dead_letters::{DeadLetter, DeadLetters};
pub use directory::{
    Account, Direction, Directory, Friend, FriendRequest, Group, GroupId, GroupPatch, JoinRequest,
    Member, NewGroup, NewUser, ProfilePatch, RequestId, RequestStatus, Role, User, UserId,
};
pub use error::StoreError;
pub use files::{FileRecord, FileStore};
pub use messages::{
    Appended, ConversationHead, MessageLog, NewMessage, StoredMessage, RECALLED_KIND,
};
pub use mongo::{MongoCursors, MongoDatabase, MongoDeadLetters, MongoMessageLog};
pub use postgres::{
    PgCursors, PgDatabase, PgDeadLetters, PgDirectory, PgFileStore, PgMessageLog, PgQueueStore,
};
pub use queue::{QueueStore, QueuedMessage, StoredId};
pub use sqlite::{
    SqliteCursors, SqliteDatabase, SqliteDeadLetters, SqliteDirectory, SqliteFileStore,
    SqliteMessageLog, SqliteQueueStore,
};
pub use stores::Stores;
