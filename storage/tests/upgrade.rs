//! Upgrading a database written before reliable messaging (schema version
//! 3): the new migration fills the conversation index, the activity times
//! and the search index from the messages already stored, and seqs go on
//! from where they were.

#[path = "support/postgres.rs"]
mod support;

use std::path::Path;

use bytes::Bytes;
use herald_storage::{NewMessage, Stores};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, SqlSafeStr};

/// The schema version before reliable messaging.
const OLD_VERSION: i64 = 3;

/// The backend's migrations up to [`OLD_VERSION`], read from its folder.
fn old_migrator(backend: &str) -> Migrator {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("migrations folder")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    let migrations = files
        .iter()
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.to_owned();
            let (version, description) = name.split_once('_')?;
            let version: i64 = version.parse().ok()?;
            let sql = std::fs::read_to_string(path).expect("read migration");
            (version <= OLD_VERSION).then(|| {
                Migration::new(
                    version,
                    description.replace('_', " ").into(),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// A row of the old `messages` table: `(conversation, seq, message_id,
/// kind, body, created_at)`.
type OldMessage = (&'static str, i64, i64, &'static str, &'static [u8], i64);

/// What the old schema holds, with each conversation's last seq.
const OLD_MESSAGES: &[OldMessage] = &[
    (
        "u1-2",
        1,
        11,
        "message",
        br#"{"type":"text","text":"Old Hello"}"#,
        1_000,
    ),
    ("u1-2", 2, 12, "message", b"plain words", 2_000),
    (
        "s1",
        1,
        13,
        "friend-request",
        br#"{"text":"hello from the system"}"#,
        1_500,
    ),
    (
        "g3",
        1,
        14,
        "message",
        br#"{"type":"image","file":{"id":"f"}}"#,
        3_000,
    ),
    ("u2-5", 1, 15, "message", &[0xff, 0xfe], 500),
];
const OLD_CONVERSATIONS: &[(&str, i64)] = &[("u1-2", 2), ("s1", 1), ("g3", 1), ("u2-5", 1)];

/// Writes [`OLD_MESSAGES`] through `connection` (SQL both backends read).
macro_rules! write_old_rows {
    ($connection:expr) => {{
        let connection = $connection;
        for &(id, last_seq) in OLD_CONVERSATIONS {
            sqlx::query("INSERT INTO conversations (id, last_seq) VALUES ($1, $2)")
                .bind(id)
                .bind(last_seq)
                .execute(&mut *connection)
                .await
                .expect("old conversation");
        }
        for &(conversation, seq, message_id, kind, body, created_at) in OLD_MESSAGES {
            sqlx::query(
                "INSERT INTO messages (conversation, seq, message_id, sender, kind, headers, \
                 body, created_at) VALUES ($1, $2, $3, 1, $4, '[]', $5, $6)",
            )
            .bind(conversation)
            .bind(seq)
            .bind(message_id)
            .bind(kind)
            .bind(body)
            .bind(created_at)
            .execute(&mut *connection)
            .await
            .expect("old message");
        }
    }};
}

fn names(conversations: &[herald_storage::ConversationHead]) -> Vec<(&str, i64, i64)> {
    conversations
        .iter()
        .map(|head| (head.conversation.as_str(), head.last_seq, head.updated_at))
        .collect()
}

async fn check_upgraded(stores: &Stores) {
    let log = &*stores.messages;
    let mine = log.conversations(1).await.expect("index");
    assert_eq!(names(&mine), [("u1-2", 2, 2_000), ("s1", 1, 1_500)]);
    let last = mine[0].last_message.as_ref().expect("last message");
    assert_eq!(
        (last.seq, last.message_id, last.client_msg_id.clone()),
        (2, 12, None)
    );
    let theirs = log.conversations(2).await.expect("index");
    assert_eq!(names(&theirs), [("u1-2", 2, 2_000), ("u2-5", 1, 500)]);
    assert_eq!(
        names(&log.conversations(5).await.expect("index")),
        [("u2-5", 1, 500)]
    );
    let group = log.heads(&["g3".to_owned()]).await.expect("heads");
    assert_eq!(names(&group), [("g3", 1, 3_000)]);

    let all: Vec<String> = OLD_CONVERSATIONS
        .iter()
        .map(|&(id, _)| id.to_owned())
        .collect();
    let seqs_of = |found: Vec<herald_storage::StoredMessage>| -> Vec<(String, i64)> {
        found
            .into_iter()
            .map(|message| (message.conversation, message.seq))
            .collect()
    };
    let hello = log.search(&all, "hello", 10).await.expect("search");
    assert_eq!(
        seqs_of(hello),
        [("u1-2".to_owned(), 1)],
        "text fields, chat messages only"
    );
    let plain = log.search(&all, "words", 10).await.expect("search");
    assert_eq!(seqs_of(plain), [("u1-2".to_owned(), 2)], "raw bodies");

    let next = log
        .append(NewMessage {
            conversation: "u1-2".into(),
            message_id: 16,
            sender: 1,
            kind: "message".into(),
            headers: Vec::new(),
            body: Bytes::from_static(br#"{"text":"new"}"#),
            created_at: 4_000,
            client_msg_id: None,
            participants: vec![1, 2],
            mentions: Vec::new(),
            files: Vec::new(),
        })
        .await
        .expect("append after the upgrade");
    assert_eq!(next.message.seq, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_from_before_reliable_messaging_is_upgraded() {
    let directory = tempfile::TempDir::new().expect("temp dir");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(directory.path().join(herald_storage::sqlite::DATABASE_FILE))
        .create_if_missing(true);
    let mut connection = options.connect().await.expect("old database");
    old_migrator("sqlite")
        .run(&mut connection)
        .await
        .expect("old schema");
    write_old_rows!(&mut connection);
    connection.close().await.expect("close");

    let stores = Stores::sqlite(directory.path()).await.expect("upgrade");
    check_upgraded(&stores).await;
    stores.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_from_before_reliable_messaging_is_upgraded() {
    let place = support::PgPlace::new();
    let url = place.url().await;
    let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
    old_migrator("postgres")
        .run(&mut connection)
        .await
        .expect("old schema");
    write_old_rows!(&mut connection);
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut connection)
        .await
        .expect("version");
    assert_eq!(version, OLD_VERSION);
    connection.execute("SELECT 1").await.expect("still open");
    connection.close().await.expect("close");

    let stores = Stores::postgres(url).await.expect("upgrade");
    check_upgraded(&stores).await;
    stores.close().await;
}
