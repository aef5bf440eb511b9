//! The contract's checks for the message log, and for what every store
//! promises across a reopen and after close.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use herald_storage::{MessageLog, NewMessage, Role, StoreError, StoredMessage, Stores};

use super::{expect_conflict, register, TRICKY_TEXTS};

/// Message ids unique within the test process, as Snowflakes would be.
fn next_message_id() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(1_000_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn text_message(conversation: &str, sender: i64, text: &str) -> NewMessage {
    NewMessage {
        conversation: conversation.to_owned(),
        message_id: next_message_id(),
        sender,
        kind: "message".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(format!("{{\"type\":\"text\",\"text\":{text:?}}}")),
        created_at: 1_700_000_000_000,
        client_msg_id: None,
        participants: Vec::new(),
        mentions: Vec::new(),
        files: Vec::new(),
    }
}

async fn append(log: &dyn MessageLog, conversation: &str, text: &str) -> StoredMessage {
    log.append(text_message(conversation, 1, text))
        .await
        .map(|appended| appended.message)
        .unwrap_or_else(|error| panic!("append to {conversation}: {error}"))
}

fn seqs(messages: &[StoredMessage]) -> Vec<i64> {
    messages.iter().map(|message| message.seq).collect()
}

pub async fn append_numbers_each_conversation_from_one<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    assert_eq!(log.last_seq("u1-2").await.expect("empty"), 0);
    let given = text_message("u1-2", 7, "first");
    let stored = log
        .append(given.clone())
        .await
        .map(|appended| appended.message)
        .expect("append");
    assert_eq!(stored.seq, 1);
    assert_eq!(stored.conversation, given.conversation);
    assert_eq!(stored.message_id, given.message_id);
    assert_eq!(stored.sender, 7);
    assert_eq!(stored.kind, given.kind);
    assert_eq!(stored.headers, given.headers);
    assert_eq!(stored.body, given.body);
    assert_eq!(stored.created_at, given.created_at);
    for (conversation, expected) in [("u1-2", 2), ("g7", 1), ("u1-2", 3), ("s3", 1), ("g7", 2)] {
        let stored = append(log, conversation, "x").await;
        assert_eq!(stored.seq, expected, "in {conversation}");
    }
    assert_eq!(log.last_seq("u1-2").await.expect("last"), 3);
    assert_eq!(log.last_seq("g7").await.expect("last"), 2);
    assert_eq!(log.last_seq("s3").await.expect("last"), 1);
    assert_eq!(log.last_seq("g70").await.expect("other"), 0);
    let all = log.after("u1-2", 0, 100).await.expect("after");
    assert_eq!(all[0], stored_from(given, 1));
    assert_eq!(seqs(&all), [1, 2, 3]);
    stores.close().await;
}

fn stored_from(message: NewMessage, seq: i64) -> StoredMessage {
    StoredMessage {
        conversation: message.conversation,
        seq,
        message_id: message.message_id,
        sender: message.sender,
        kind: message.kind,
        headers: message.headers,
        body: message.body,
        created_at: message.created_at,
        client_msg_id: message.client_msg_id,
    }
}

pub async fn concurrent_appends_leave_no_gap_and_no_duplicate<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    const APPENDS: i64 = 200;
    let stores = open().await;
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..APPENDS {
        let log = stores.messages.clone();
        // Another conversation's appends interleave with the busy one's.
        let conversation = if number % 4 == 3 { "g2" } else { "g1" };
        tasks.spawn(async move {
            let message = text_message(conversation, number, &number.to_string());
            (
                message.message_id,
                log.append(message).await.map(|appended| appended.message),
            )
        });
    }
    let mut by_conversation: [Vec<(i64, i64)>; 2] = [Vec::new(), Vec::new()];
    while let Some(joined) = tasks.join_next().await {
        let (message_id, result) = joined.expect("task");
        let stored = result.expect("append");
        assert_eq!(stored.message_id, message_id);
        let index = usize::from(stored.conversation == "g2");
        by_conversation[index].push((stored.seq, message_id));
    }
    for (index, conversation) in ["g1", "g2"].into_iter().enumerate() {
        let answered = &mut by_conversation[index];
        answered.sort_unstable();
        let count = i64::try_from(answered.len()).expect("count");
        let expected: Vec<i64> = (1..=count).collect();
        let answered_seqs: Vec<i64> = answered.iter().map(|&(seq, _)| seq).collect();
        assert_eq!(answered_seqs, expected, "{conversation}: answered seqs");
        let stored = stores
            .messages
            .after(conversation, 0, 1_000)
            .await
            .expect("read");
        let stored_pairs: Vec<(i64, i64)> = stored
            .iter()
            .map(|message| (message.seq, message.message_id))
            .collect();
        assert_eq!(
            &stored_pairs, answered,
            "{conversation}: stored as answered"
        );
        assert_eq!(
            stores.messages.last_seq(conversation).await.expect("last"),
            count
        );
    }
    assert_eq!(by_conversation[0].len() + by_conversation[1].len(), 200);
    stores.close().await;
}

pub async fn after_and_before_page_in_seq_order<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    for number in 1..=10 {
        append(log, "u3-4", &number.to_string()).await;
        append(log, "u3-5", "elsewhere").await;
    }
    let page = |messages: Vec<StoredMessage>| {
        assert!(messages
            .iter()
            .all(|message| message.conversation == "u3-4"));
        seqs(&messages)
    };
    assert_eq!(page(log.after("u3-4", 0, 3).await.expect("a")), [1, 2, 3]);
    assert_eq!(page(log.after("u3-4", 3, 3).await.expect("a")), [4, 5, 6]);
    assert_eq!(page(log.after("u3-4", 8, 5).await.expect("a")), [9, 10]);
    assert!(log.after("u3-4", 10, 5).await.expect("a").is_empty());
    assert_eq!(page(log.after("u3-4", -5, 2).await.expect("a")), [1, 2]);
    assert_eq!(
        page(log.before("u3-4", i64::MAX, 3).await.expect("b")),
        [8, 9, 10]
    );
    assert_eq!(page(log.before("u3-4", 8, 3).await.expect("b")), [5, 6, 7]);
    assert_eq!(page(log.before("u3-4", 3, 5).await.expect("b")), [1, 2]);
    assert!(log.before("u3-4", 1, 5).await.expect("b").is_empty());
    assert!(log.after("u3-4", 0, 0).await.expect("zero").is_empty());
    assert!(log
        .after("nobody", 0, 10)
        .await
        .expect("unknown")
        .is_empty());
    assert!(log
        .before("nobody", i64::MAX, 10)
        .await
        .expect("unknown")
        .is_empty());
    let bodies: Vec<Bytes> = log
        .after("u3-4", 0, 100)
        .await
        .expect("all")
        .into_iter()
        .map(|message| message.body)
        .collect();
    let expected: Vec<Bytes> = (1..=10)
        .map(|number| text_message("x", 1, &number.to_string()).body)
        .collect();
    assert_eq!(bodies, expected, "each seq holds the message appended then");
    stores.close().await;
}

pub async fn messages_keep_headers_and_bodies_verbatim<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let mut sent = Vec::new();
    for text in TRICKY_TEXTS {
        let mut message = text_message("g9", 1, text);
        message.headers = vec![
            ((*text).to_owned(), (*text).to_owned()),
            ("x".into(), "1".into()),
            ("x".into(), "2".into()),
            ("nul-escaped".into(), "a\0b".into()),
        ];
        message.kind = (*text).to_owned();
        message.body = Bytes::copy_from_slice(text.as_bytes());
        sent.push(message);
    }
    let mut binary = text_message("g9", 1, "");
    binary.body = Bytes::from_static(&[0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x00]);
    binary.headers = Vec::new();
    sent.push(binary);
    for message in &sent {
        log.append(message.clone())
            .await
            .map(|appended| appended.message)
            .expect("append");
    }
    let stored = log.after("g9", 0, 100).await.expect("read");
    let expected: Vec<StoredMessage> = sent
        .into_iter()
        .zip(1..)
        .map(|(message, seq)| stored_from(message, seq))
        .collect();
    assert_eq!(stored, expected);
    stores.close().await;
}

pub async fn repeated_message_id_is_a_conflict_and_takes_no_seq<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let first = text_message("u5-6", 5, "once");
    log.append(first.clone())
        .await
        .map(|appended| appended.message)
        .expect("append");
    let mut again = first.clone();
    again.conversation = "u5-7".into();
    expect_conflict(
        log.append(first.clone())
            .await
            .map(|appended| appended.message),
        "the same message id",
    );
    expect_conflict(
        log.append(again).await.map(|appended| appended.message),
        "the same id in another conversation",
    );
    assert_eq!(log.last_seq("u5-6").await.expect("last"), 1);
    assert_eq!(log.last_seq("u5-7").await.expect("last"), 0);
    assert_eq!(append(log, "u5-6", "next").await.seq, 2);
    assert_eq!(append(log, "u5-7", "first").await.seq, 1);
    stores.close().await;
}

pub async fn chat_data_survives_reopen<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let alice = register(directory, "alice").await;
    let bob = register(directory, "bob").await;
    let request = directory
        .create_friend_request(alice.id, bob.id, "hi")
        .await
        .expect("request");
    directory
        .resolve_friend_request(request.id, true)
        .await
        .expect("accept");
    let group = directory
        .create_group(alice.id, herald_storage::NewGroup::default())
        .await
        .expect("group");
    directory
        .add_member(group.id, bob.id, Role::Admin)
        .await
        .expect("add");
    let mut sent = Vec::new();
    for number in 0..5 {
        sent.push(append(&*stores.messages, "u1-2", &number.to_string()).await);
    }
    stores.close().await;

    let stores = open().await;
    let directory = &*stores.directory;
    let account = directory.account_by_username("ALICE").await.expect("read");
    assert_eq!(account.map(|account| account.user), Some(alice.clone()));
    assert!(directory
        .are_friends(bob.id, alice.id)
        .await
        .expect("friends"));
    let member = directory.member(group.id, bob.id).await.expect("read");
    assert_eq!(member.map(|member| member.role), Some(Role::Admin));
    assert_eq!(
        stores.messages.after("u1-2", 0, 10).await.expect("read"),
        sent
    );
    assert_eq!(append(&*stores.messages, "u1-2", "more").await.seq, 6);
    expect_conflict(
        directory
            .create_user(herald_storage::NewUser {
                username: "Bob".into(),
                password_hash: "h".into(),
                nickname: "b".into(),
            })
            .await,
        "a taken name after reopening",
    );
    stores.close().await;
}

pub async fn closed_stores_refuse_everything<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let alice = register(&*stores.directory, "alice").await;
    stores.close().await;
    let closed = |result: Result<(), StoreError>, what: &str| {
        assert!(
            matches!(result, Err(StoreError::Closed)),
            "{what} after close: {result:?}"
        );
    };
    closed(stores.directory.account(alice.id).await.map(drop), "a read");
    closed(register_result(&*stores.directory).await, "a registration");
    closed(
        stores
            .messages
            .append(text_message("g1", 1, "late"))
            .await
            .map(|appended| appended.message)
            .map(drop),
        "an append",
    );
    closed(
        stores.messages.after("g1", 0, 10).await.map(drop),
        "a history read",
    );
    closed(
        stores
            .queue
            .enqueue("/queue/a", Vec::new(), Bytes::new())
            .await
            .map(drop),
        "an enqueue",
    );
    stores.close().await;
}

async fn register_result(directory: &dyn herald_storage::Directory) -> Result<(), StoreError> {
    directory
        .create_user(herald_storage::NewUser {
            username: "late".into(),
            password_hash: "h".into(),
            nickname: "late".into(),
        })
        .await
        .map(drop)
}
