//! History beyond appending: reading one message, recall, and retention.

use std::future::Future;

use bytes::Bytes;
use herald_storage::{NewMessage, Stores, RECALLED_KIND};

use super::{append, append_new, chat, chat_at, chat_with_id, seqs};
use crate::contract::chat::expect_not_found;

pub async fn get_finds_stored_messages<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let first = append_new(log, chat("u1-2", 1, "one")).await;
    let second = append_new(log, chat_with_id("u1-2", 2, "two", "c-2")).await;
    assert_eq!(log.get("u1-2", 1).await.expect("get"), Some(first));
    assert_eq!(log.get("u1-2", 2).await.expect("get"), Some(second));
    assert_eq!(log.get("u1-2", 3).await.expect("get"), None);
    assert_eq!(log.get("u1-2", 0).await.expect("get"), None);
    assert_eq!(log.get("u1-3", 1).await.expect("get"), None);
    stores.close().await;
}

pub async fn recall_erases_content_and_keeps_the_place<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let message = NewMessage {
        mentions: vec![2],
        ..chat_with_id("u1-2", 1, "secret plans", "c-9")
    };
    let stored = append_new(log, message).await;
    let after = append_new(log, chat("u1-2", 2, "reply")).await;
    let mentions = stores.cursors.mention_counts(2).await.expect("mentions");
    assert_eq!(mentions, [("u1-2".to_owned(), 1)]);

    let recalled = log.recall("u1-2", 1).await.expect("recall");
    assert_eq!(recalled.kind, RECALLED_KIND);
    assert_eq!(recalled.body, Bytes::new());
    assert!(recalled.headers.is_empty());
    assert_eq!(
        (recalled.seq, recalled.message_id, recalled.sender),
        (stored.seq, stored.message_id, stored.sender)
    );
    assert_eq!(recalled.created_at, stored.created_at);
    assert_eq!(recalled.client_msg_id, stored.client_msg_id);
    assert_eq!(
        log.get("u1-2", 1).await.expect("get"),
        Some(recalled.clone())
    );
    let history = log.after("u1-2", 0, 10).await.expect("history");
    assert_eq!(history, [recalled.clone(), after]);

    let conversations = ["u1-2".to_owned()];
    let found = log
        .search(&conversations, "secret", 10)
        .await
        .expect("search");
    assert!(
        found.is_empty(),
        "a recalled message is still found: {found:?}"
    );
    let mentions = stores.cursors.mention_counts(2).await.expect("mentions");
    assert!(mentions.is_empty(), "a recalled mention still counts");

    assert_eq!(log.recall("u1-2", 1).await.expect("again"), recalled);
    let repeat = append(log, chat_with_id("u1-2", 1, "secret plans", "c-9")).await;
    assert!(repeat.duplicate, "recall does not free the client-msg-id");
    assert_eq!(repeat.message, recalled);
    expect_not_found(log.recall("u1-2", 3).await, "recalling a missing seq");
    expect_not_found(
        log.recall("g404", 1).await,
        "recalling in an empty conversation",
    );
    stores.close().await;
}

pub async fn purge_before_deletes_old_messages_and_keeps_seq_counting<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    for (conversation, at) in [
        ("u1-2", 1_000),
        ("u1-2", 2_000),
        ("g1", 1_500),
        ("u1-2", 3_000),
    ] {
        append_new(log, chat_at(conversation, 1, "text", at)).await;
    }
    assert_eq!(log.purge_before(2_500).await.expect("purge"), 3);
    assert_eq!(seqs(&log.after("u1-2", 0, 10).await.expect("history")), [3]);
    assert!(log.after("g1", 0, 10).await.expect("history").is_empty());
    assert_eq!(log.last_seq("u1-2").await.expect("last"), 3);
    assert_eq!(log.last_seq("g1").await.expect("last"), 1);
    assert_eq!(
        append_new(log, chat_at("g1", 1, "more", 4_000)).await.seq,
        2
    );
    assert_eq!(
        append_new(log, chat_at("u1-2", 1, "more", 4_000)).await.seq,
        4
    );
    assert_eq!(log.purge_before(2_500).await.expect("nothing left"), 0);

    assert_eq!(log.purge_before(i64::MAX).await.expect("purge all"), 3);
    let heads = log.conversations(1).await.expect("index");
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].conversation, "u1-2");
    assert_eq!(heads[0].last_seq, 4, "the index keeps the last seq");
    assert_eq!(heads[0].last_message, None, "its message is gone");
    assert_eq!(append_new(log, chat("u1-2", 2, "again")).await.seq, 5);
    stores.close().await;
}

/// More messages than one purge step takes, with what belongs to them:
/// dedupe records, mentions, hidden marks and search entries go too.
pub async fn purge_before_takes_what_belongs_to_purged_messages<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    const OLD: i64 = 1_205;
    let stores = open().await;
    let log = &*stores.messages;
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..OLD {
        let log = stores.messages.clone();
        let message = NewMessage {
            mentions: vec![2],
            client_msg_id: Some(format!("old-{number}")),
            ..chat_at("u1-2", 1, "ancient words", 1_000 + number)
        };
        tasks.spawn(async move { log.append(message).await });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task").expect("append");
    }
    let kept = append_new(log, chat_at("u1-2", 1, "ancient words", 10_000)).await;
    stores.cursors.hide(2, "u1-2", 5).await.expect("hide");
    stores
        .cursors
        .hide(2, "u1-2", kept.seq)
        .await
        .expect("hide");

    let purged = log.purge_before(5_000).await.expect("purge");
    assert_eq!(purged, u64::try_from(OLD).expect("count"));
    assert_eq!(
        log.after("u1-2", 0, 10).await.expect("history"),
        std::slice::from_ref(&kept)
    );
    let conversations = ["u1-2".to_owned()];
    let found = log
        .search(&conversations, "ancient", 10)
        .await
        .expect("search");
    assert_eq!(
        found,
        std::slice::from_ref(&kept),
        "purged messages are not found"
    );
    let counts = stores.cursors.mention_counts(2).await.expect("mentions");
    assert!(counts.is_empty(), "purged mentions still count: {counts:?}");
    let hidden = stores
        .cursors
        .hidden(2, "u1-2", 0, i64::MAX)
        .await
        .expect("hidden");
    assert_eq!(hidden, [kept.seq]);
    let again = append(log, chat_with_id("u1-2", 1, "again", "old-7")).await;
    assert!(!again.duplicate, "a purged message's client-msg-id is free");
    assert_eq!(again.message.seq, kept.seq + 1);
    stores.close().await;
}
