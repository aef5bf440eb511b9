//! Tests of what is particular to the SQLite backend: group commit (also
//! across stores), the connection settings, corrupt rows, schema versions
//! and two handles on one file. The behaviour
//! every backend shares is checked by the contract tests in `tests/`.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tempfile::TempDir;

use super::{connect_options, SqliteDatabase, SqliteQueueStore, DATABASE_FILE};
use crate::{Directory, MessageLog, NewMessage, NewUser, QueueStore, StoreError};

async fn open_raw(directory: &TempDir) -> SqliteConnection {
    connect_options(&directory.path().join(DATABASE_FILE))
        .connect()
        .await
        .expect("raw connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_share_commits() {
    let directory = TempDir::new().expect("temp dir");
    let store = Arc::new(
        SqliteQueueStore::open(directory.path())
            .await
            .expect("open"),
    );
    let before = store.commits();

    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..1_000u32 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let body = Bytes::from(number.to_be_bytes().to_vec());
            store.enqueue("/queue/batch", Vec::new(), body).await
        });
    }
    let mut ids = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        ids.insert(joined.expect("task").expect("enqueue"));
    }

    let commits = store.commits() - before;
    assert_eq!(ids.len(), 1_000);
    assert!(commits >= 1, "nothing was committed");
    assert!(
        commits < 100,
        "1,000 concurrent enqueues took {commits} commits: group commit is not grouping"
    );
    assert_eq!(store.pending().await.expect("pending").len(), 1_000);
}

#[tokio::test]
async fn one_rejected_change_does_not_fail_its_batch() {
    let directory = TempDir::new().expect("temp dir");
    let store = Arc::new(
        SqliteQueueStore::open(directory.path())
            .await
            .expect("open"),
    );

    // Sent together so they likely share a batch; the empty queue name
    // breaks the schema's CHECK and must fail alone.
    let mut tasks = tokio::task::JoinSet::new();
    for queue in ["/queue/a", "", "/queue/b", "/queue/c"] {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let result = store.enqueue(queue, Vec::new(), Bytes::new()).await;
            (queue, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (queue, result) = joined.expect("task");
        match (queue, result) {
            ("", Err(StoreError::Rejected(_))) => {}
            ("", other) => panic!("empty queue name gave {other:?}"),
            (_, Ok(_)) => {}
            (queue, Err(error)) => panic!("{queue} failed with its bad neighbour: {error}"),
        }
    }
    let queues: Vec<String> = store
        .pending()
        .await
        .expect("pending")
        .into_iter()
        .map(|message| message.queue)
        .collect();
    assert_eq!(queues.len(), 3, "{queues:?}");
}

#[tokio::test]
async fn file_is_in_wal_mode_with_full_sync() {
    let directory = TempDir::new().expect("temp dir");
    let nested = directory.path().join("a/b");
    let store = SqliteQueueStore::open(&nested).await.expect("open");
    assert_eq!(store.path(), nested.join(DATABASE_FILE));
    assert!(store.path().is_file());

    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.database().shared.readers)
        .await
        .expect("journal_mode");
    assert_eq!(journal, "wal");
    // 2 is FULL.
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&store.database().shared.readers)
        .await
        .expect("synchronous");
    assert_eq!(synchronous, 2);
    store.close().await;
}

#[tokio::test]
async fn broken_headers_are_corrupt_not_a_panic() {
    for headers in ["not json", "{\"a\":1}", "[[\"only-a-name\"]]", "[[1,2]]"] {
        let directory = TempDir::new().expect("temp dir");
        let store = SqliteQueueStore::open(directory.path())
            .await
            .expect("open");
        let mut raw = open_raw(&directory).await;
        sqlx::query(
            "INSERT INTO queue_messages (queue, headers, body, created_at) \
             VALUES ('/queue/x', ?, x'00', 0)",
        )
        .bind(headers)
        .execute(&mut raw)
        .await
        .expect("insert");
        raw.close().await.expect("close raw");

        match store.pending().await {
            Err(StoreError::Corrupt(reason)) => assert!(reason.contains("headers"), "{reason}"),
            other => panic!("headers {headers:?} gave {other:?}"),
        }
        store.close().await;
    }
}

#[tokio::test]
async fn wrongly_typed_columns_are_corrupt() {
    let directory = TempDir::new().expect("temp dir");
    let store = SqliteQueueStore::open(directory.path())
        .await
        .expect("open");
    let mut raw = open_raw(&directory).await;
    // SQLite's columns take any type; a foreign writer could leave a real.
    sqlx::query(
        "INSERT INTO queue_messages (queue, headers, body, deliveries, created_at) \
         VALUES ('/queue/x', '[]', x'', 1.5, 0)",
    )
    .execute(&mut raw)
    .await
    .expect("insert");
    raw.close().await.expect("close raw");

    match store.pending().await {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("a real delivery count gave {other:?}"),
    }
    store.close().await;
}

#[tokio::test]
async fn applied_migrations_from_another_version_are_corrupt() {
    let directory = TempDir::new().expect("temp dir");
    SqliteQueueStore::open(directory.path())
        .await
        .expect("open")
        .close()
        .await;
    let mut raw = open_raw(&directory).await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1")
        .execute(&mut raw)
        .await
        .expect("tamper");
    raw.close().await.expect("close raw");

    match SqliteQueueStore::open(directory.path()).await {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("a changed migration gave {other:?}"),
    }
}

fn message(conversation: &str, message_id: i64) -> NewMessage {
    NewMessage {
        conversation: conversation.to_owned(),
        message_id,
        sender: 1,
        kind: "message".into(),
        headers: Vec::new(),
        body: Bytes::from_static(b"{}"),
        created_at: 0,
        client_msg_id: None,
        participants: Vec::new(),
        mentions: Vec::new(),
        files: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_and_directory_writes_share_commits() {
    let directory = TempDir::new().expect("temp dir");
    let database = SqliteDatabase::open(directory.path()).await.expect("open");
    let before = database.commits();
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..600i64 {
        let database = database.clone();
        tasks.spawn(async move {
            if number % 30 == 0 {
                let user = NewUser {
                    username: format!("user{number}"),
                    password_hash: "h".into(),
                    nickname: "n".into(),
                };
                database.directory().create_user(user).await.map(drop)
            } else {
                let conversation = format!("g{}", number % 3);
                database
                    .message_log()
                    .append(message(&conversation, number))
                    .await
                    .map(|appended| appended.message)
                    .map(drop)
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task").expect("write");
    }
    let commits = database.commits() - before;
    assert!(
        commits < 100,
        "600 concurrent writes took {commits} commits: they are not grouped"
    );
    let total: i64 = [
        database.message_log().last_seq("g0").await.expect("g0"),
        database.message_log().last_seq("g1").await.expect("g1"),
        database.message_log().last_seq("g2").await.expect("g2"),
    ]
    .iter()
    .sum();
    assert_eq!(total, 580);
    database.close().await;
}

/// Two handles on one file (as two processes would be) take turns at the
/// write lock; seqs stay contiguous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_databases_on_one_file_keep_seq_contiguous() {
    let directory = TempDir::new().expect("temp dir");
    let first = SqliteDatabase::open(directory.path()).await.expect("open");
    let second = SqliteDatabase::open(directory.path())
        .await
        .expect("open again");
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..200i64 {
        let database = if number % 2 == 0 { &first } else { &second }.clone();
        tasks.spawn(async move {
            let registered = database
                .directory()
                .create_user(NewUser {
                    username: format!("u{number}"),
                    password_hash: "h".into(),
                    nickname: "n".into(),
                })
                .await;
            registered.expect("register");
            database
                .message_log()
                .append(message("g1", number))
                .await
                .map(|appended| appended.message)
        });
    }
    let mut seqs = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        let stored = joined.expect("task").expect("append");
        assert!(
            seqs.insert(stored.seq),
            "seq {} handed out twice",
            stored.seq
        );
    }
    assert_eq!(seqs, (1..=200).collect::<HashSet<i64>>());
    first.close().await;
    second.close().await;
}

/// Two handles on one file repeating the same client-msg-ids at once: the
/// write lock serializes their batches, so each id is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_databases_on_one_file_store_each_client_msg_id_once() {
    let directory = TempDir::new().expect("temp dir");
    let first = SqliteDatabase::open(directory.path()).await.expect("open");
    let second = SqliteDatabase::open(directory.path())
        .await
        .expect("open again");
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..120i64 {
        let database = if number % 2 == 0 { &first } else { &second }.clone();
        let mut repeat = message("u1-2", number);
        repeat.client_msg_id = Some(format!("c-{}", number % 10));
        tasks.spawn(async move { database.message_log().append(repeat).await });
    }
    let mut new = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        let appended = joined.expect("task").expect("append");
        if !appended.duplicate {
            assert!(
                new.insert(appended.message.client_msg_id.clone()),
                "stored twice"
            );
        }
    }
    assert_eq!(new.len(), 10);
    let last = first.message_log().last_seq("u1-2").await.expect("last");
    assert_eq!(last, 10, "repeats took no seq");
    first.close().await;
    second.close().await;
}
