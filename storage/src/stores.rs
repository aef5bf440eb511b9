//! One call per backend that opens every store Herald keeps there, so the
//! broker picks a backend in one place and holds the stores as trait
//! objects. This module owns only the wiring; each backend owns its data.

use std::path::Path;
use std::sync::Arc;

use crate::mongo::MongoDatabase;
use crate::postgres::PgDatabase;
use crate::sqlite::SqliteDatabase;
use crate::{
    Cursors, DeadLetters, Directory, FileStore, MessageLog, Options, QueueStore, StoreError,
};

/// Every store of one backend.
#[derive(Clone)]
pub struct Stores {
    pub queue: Arc<dyn QueueStore>,
    pub directory: Arc<dyn Directory>,
    pub messages: Arc<dyn MessageLog>,
    pub cursors: Arc<dyn Cursors>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub files: Arc<dyn FileStore>,
    closer: Closer,
}

/// Closes whatever the stores share (a database file, a pool).
#[derive(Clone)]
enum Closer {
    Sqlite(SqliteDatabase),
    Postgres(PgDatabase),
    /// A SQL backend's stores with MongoDB for some (see
    /// [`Stores::with_mongo`]).
    Mongo {
        sql: Box<Closer>,
        mongo: MongoDatabase,
    },
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.closer {
            Closer::Sqlite(_) => "sqlite",
            Closer::Postgres(_) => "postgres",
            Closer::Mongo { .. } => "mongodb",
        };
        formatter
            .debug_struct("Stores")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// Every store in `data_dir/herald.db`, sharing one writer so that all
    /// their writes group-commit together (see [`SqliteDatabase::open`]).
    pub async fn sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        Self::sqlite_with(data_dir, Options::default()).await
    }

    /// [`Stores::sqlite`] with `options`.
    pub async fn sqlite_with(data_dir: &Path, options: Options) -> Result<Self, StoreError> {
        let database = SqliteDatabase::open_with(data_dir, options).await?;
        Ok(Self {
            queue: Arc::new(database.queue_store()),
            directory: Arc::new(database.directory()),
            messages: Arc::new(database.message_log()),
            cursors: Arc::new(database.cursors()),
            dead_letters: Arc::new(database.dead_letters()),
            files: Arc::new(database.files()),
            closer: Closer::Sqlite(database),
        })
    }

    /// Every store in the PostgreSQL database at `url`
    /// (`postgres://user@host:port/database`), sharing one pool; see
    /// [`PgDatabase::connect`]. Several nodes may share the directory and
    /// message log; the queue store's `pending` returns every queued
    /// message in the database, so nodes sharing a database must not each
    /// load it (keep queues per node, e.g. in [`Stores::sqlite`]'s queue).
    pub async fn postgres(url: &str) -> Result<Self, StoreError> {
        Self::postgres_with(url, Options::default()).await
    }

    /// [`Stores::postgres`] with `options`.
    pub async fn postgres_with(url: &str, options: Options) -> Result<Self, StoreError> {
        let database = PgDatabase::connect_with(url, options).await?;
        Ok(Self {
            queue: Arc::new(database.queue_store()),
            directory: Arc::new(database.directory()),
            messages: Arc::new(database.message_log()),
            cursors: Arc::new(database.cursors()),
            dead_letters: Arc::new(database.dead_letters()),
            files: Arc::new(database.files()),
            closer: Closer::Postgres(database),
        })
    }

    /// `sql`'s directory, queue and files, with messages, cursors and dead
    /// letters in the MongoDB database `mongo_url` names (`herald` when it
    /// names none); see [`MongoDatabase::connect`]. Appends record file
    /// sharing in `sql`'s file store.
    pub async fn with_mongo(sql: Stores, mongo_url: &str) -> Result<Self, StoreError> {
        let mongo = MongoDatabase::connect_url(mongo_url).await?;
        Ok(Self {
            messages: Arc::new(mongo.message_log(sql.files.clone())),
            cursors: Arc::new(mongo.cursors()),
            dead_letters: Arc::new(mongo.dead_letters()),
            closer: Closer::Mongo {
                sql: Box::new(sql.closer),
                mongo,
            },
            ..sql
        })
    }

    /// Whether every database behind the stores answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut closer = &self.closer;
        loop {
            match closer {
                Closer::Sqlite(database) => return database.ping().await,
                Closer::Postgres(database) => return database.ping().await,
                Closer::Mongo { sql, mongo } => {
                    mongo.ping().await?;
                    closer = sql;
                }
            }
        }
    }

    /// Finishes in-flight writes and closes the backend; later calls on
    /// any of the stores fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        let mut closer = &self.closer;
        loop {
            match closer {
                Closer::Sqlite(database) => return database.close().await,
                Closer::Postgres(database) => return database.close().await,
                // MongoDB first: its appends may still share files in SQL.
                Closer::Mongo { sql, mongo } => {
                    mongo.close().await;
                    closer = sql;
                }
            }
        }
    }
}
