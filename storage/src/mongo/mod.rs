//! MongoDB backend for what grows with traffic: the message log (with its
//! dedupe records, conversation index, mentions and search words), the
//! cursors and the dead letters. The directory, `/queue` messages and file
//! records stay on a SQL backend ([`Stores::with_mongo`](crate::Stores::with_mongo)
//! wires the two together).
//!
//! Nothing here uses multi-document transactions, so it runs on any
//! MongoDB deployment (and on the MongoDB-wire server the tests use).
//! Instead each fact that must not be lost with a message lives in the
//! message's own document, written by one insert: its dedupe key, its
//! mentions and its search words. A conversation's `seq` is taken by
//! inserting under a unique `(conversation, seq)` index and retrying on a
//! duplicate key (see `messages`). What sits beside the message (the
//! conversation's participants and head, file shares) is written before or
//! after that insert so that a crash in between never hides a stored
//! message; each module says how.
//!
//! Every write uses write concern `majority` with journaling, so on a real
//! MongoDB an answer means the write survives a crash of the server. There
//! is no group commit here: each write is one round trip, and the server's
//! journal batches concurrent ones.
//!
//! Search is kept on this backend too, without MongoDB's `$text` (see
//! `search`): the same whole-word, case-folded matching as the SQL
//! backends, over words stored with each message.
//!
//! Production runs on a real MongoDB. The tests run on `nx-27017`, a
//! MongoDB-wire server over SQLite (`scripts/mongo.sh`): correctness only,
//! never performance figures. Two of its quirks shape the code: it hands
//! small 64-bit integers back as 32-bit ones (reads accept both), and it
//! misreads plain equality on an indexed array field (queries use `$all`).
//!
//! This module owns the connection, the indexes and the close gate; it
//! must not decide who may read a conversation.

mod cursors;
mod dead_letters;
mod documents;
mod error;
mod heads;
mod messages;
mod retention;
mod search;
mod turns;

use std::sync::Arc;

use mongodb::bson::{doc, Document};
use mongodb::options::{
    Acknowledgment, ClientOptions, DatabaseOptions, IndexOptions, WriteConcern,
};
use mongodb::{Client, Collection, Database, IndexModel};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::{FileStore, StoreError};
use turns::Turns;

pub use cursors::MongoCursors;
pub use dead_letters::MongoDeadLetters;
pub use messages::MongoMessageLog;

/// How many operations may be in flight at once; `close` takes them all to
/// wait for the ones running. Far above what one broker process issues.
const GATE_PERMITS: u32 = 1 << 20;

/// The database used when a URL names none.
const DEFAULT_NAME: &str = "herald";

/// A connection to one MongoDB database holding Herald's messages,
/// cursors and dead letters. Clones share the connection pool.
#[derive(Clone)]
pub struct MongoDatabase {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    database: Database,
    /// Every operation holds a permit while it runs; `close` takes all of
    /// them (waiting for running operations) and closes the semaphore, so
    /// later operations fail with `Closed`. A semaphore rather than a flag
    /// because close must wait for in-flight writes to finish.
    gate: Semaphore,
    /// This process's appends per conversation (see `turns`).
    seq_turns: Turns,
    /// This process's dead letters, under one key.
    dead_letter_turns: Turns,
}

impl std::fmt::Debug for MongoDatabase {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MongoDatabase")
            .field("database", &self.shared.database.name())
            .finish_non_exhaustive()
    }
}

impl MongoDatabase {
    /// Connects to `url` (`mongodb://host:port`, any option the driver
    /// reads) and uses database `name`, creating the collections' indexes
    /// if they are missing. `Unavailable` when the server cannot be
    /// reached or refuses the indexes.
    pub async fn connect(url: &str, name: &str) -> Result<Self, StoreError> {
        let client = Client::with_uri_str(url).await?;
        let durable = WriteConcern::builder()
            .w(Acknowledgment::Majority)
            .journal(true)
            .build();
        let options = DatabaseOptions::builder().write_concern(durable).build();
        let database = client.database_with_options(name, options);
        let shared = Shared {
            client,
            database,
            gate: Semaphore::new(GATE_PERMITS as usize),
            seq_turns: Turns::default(),
            dead_letter_turns: Turns::default(),
        };
        let this = Self {
            shared: Arc::new(shared),
        };
        this.create_indexes().await?;
        Ok(this)
    }

    /// Connects to the database `url` names (`mongodb://host:port/herald`),
    /// or `herald` when it names none; see [`connect`](Self::connect).
    pub async fn connect_url(url: &str) -> Result<Self, StoreError> {
        let options = ClientOptions::parse(url).await?;
        let name = options.default_database.as_deref().unwrap_or(DEFAULT_NAME);
        Self::connect(url, name).await
    }

    /// The message log. Appends that reference files record the sharing in
    /// `files` (the SQL backend's file store), since file records are not
    /// kept here.
    pub fn message_log(&self, files: Arc<dyn FileStore>) -> MongoMessageLog {
        MongoMessageLog::new(self.clone(), files)
    }

    /// The cursors (delivered, read, hidden messages, devices).
    pub fn cursors(&self) -> MongoCursors {
        MongoCursors::new(self.clone())
    }

    /// The dead letters.
    pub fn dead_letters(&self) -> MongoDeadLetters {
        MongoDeadLetters::new(self.clone())
    }

    /// Waits for running operations to finish, then closes the connection;
    /// every later call on any handle fails with [`StoreError::Closed`].
    /// Closing again does nothing.
    pub async fn close(&self) {
        let Ok(everything) = self.shared.gate.acquire_many(GATE_PERMITS).await else {
            return;
        };
        self.shared.gate.close();
        drop(everything);
        self.shared.client.clone().shutdown().immediate(true).await;
    }

    /// Whether the server answers a command (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _permit = self.enter().await?;
        self.shared.database.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    /// Drops the whole database: for tests that made one of their own.
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        let _permit = self.enter().await?;
        Ok(self.shared.database.drop().await?)
    }

    /// A permit to run one operation; `Closed` once [`close`](Self::close)
    /// began.
    pub(crate) async fn enter(&self) -> Result<SemaphorePermit<'_>, StoreError> {
        self.shared
            .gate
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)
    }

    fn seq_turns(&self) -> &Turns {
        &self.shared.seq_turns
    }

    fn dead_letter_turns(&self) -> &Turns {
        &self.shared.dead_letter_turns
    }

    pub(crate) fn collection(&self, name: &str) -> Collection<Document> {
        self.shared.database.collection(name)
    }

    async fn create_indexes(&self) -> Result<(), StoreError> {
        let _permit = self.enter().await?;
        for (collection, keys, unique) in INDEXES {
            let mut options = IndexOptions::builder().unique(*unique).build();
            if *collection == messages::MESSAGES && keys.contains(&documents::DEDUPE_ID) {
                // Only messages with a dedupe key take part: the others
                // would all share the key `null`.
                options.partial_filter_expression =
                    Some(doc! { documents::DEDUPE_ID: { "$exists": true } });
            }
            let mut key_document = Document::new();
            for key in *keys {
                key_document.insert(*key, 1);
            }
            let index = IndexModel::builder()
                .keys(key_document)
                .options(options)
                .build();
            self.collection(collection).create_index(index).await?;
        }
        Ok(())
    }
}

/// Every index: collection, keys (ascending), unique. `_id` is indexed by
/// MongoDB itself: a message's is its `message_id`, a conversation's its
/// name, a dead letter's its id.
const INDEXES: &[(&str, &[&str], bool)] = &[
    // Taking a seq, `after`, `before`, `get`, the newest message.
    (messages::MESSAGES, &["conversation", "seq"], true),
    // client-msg-id dedupe: one message per sender and key.
    (messages::MESSAGES, &["sender", documents::DEDUPE_ID], true),
    // Retention and the end of the dedupe window.
    (messages::MESSAGES, &["created_at"], false),
    // Mention counts.
    (messages::MESSAGES, &["mentions"], false),
    // Search.
    (messages::MESSAGES, &["words"], false),
    // A user's private and system conversations.
    (heads::CONVERSATIONS, &["participants"], false),
    (cursors::DEVICES, &["user", "device"], true),
    (
        cursors::DELIVERED,
        &["user", "device", "conversation"],
        true,
    ),
    (cursors::READ, &["user", "conversation"], true),
    // Group read counts.
    (cursors::READ, &["conversation", "seq"], false),
    (cursors::HIDDEN, &["user", "conversation", "seq"], true),
    // Retention drops the marks of purged messages.
    (cursors::HIDDEN, &["conversation", "seq"], false),
];
