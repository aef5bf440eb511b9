//! `client-msg-id` dedupe: a repeat stores nothing and answers with the
//! first message, also when repeats race, after a reopen, and until the
//! dedupe window is purged.

use std::future::Future;

use herald_storage::{NewMessage, Stores};

use super::{append, append_new, chat, chat_at, chat_with_id, seqs};

pub async fn repeated_client_msg_id_stores_one_message<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let first = append(log, chat_with_id("u1-2", 1, "hello", "c-1")).await;
    assert!(!first.duplicate, "the first send is new");
    assert_eq!(first.message.seq, 1);
    assert_eq!(first.message.client_msg_id.as_deref(), Some("c-1"));
    for attempt in 0..4 {
        // Each retry reaches the broker as a new SEND: new Snowflake, new
        // text even; the store answers with the first message.
        let text = format!("retry {attempt}");
        let repeat = append(log, chat_with_id("u1-2", 1, &text, "c-1")).await;
        assert!(repeat.duplicate, "attempt {attempt} was stored again");
        assert_eq!(repeat.message, first.message, "attempt {attempt}");
    }
    let stored = log.after("u1-2", 0, 10).await.expect("history");
    assert_eq!(stored, std::slice::from_ref(&first.message));
    assert_eq!(log.last_seq("u1-2").await.expect("last"), 1);
    let next = append_new(log, chat("u1-2", 1, "next")).await;
    assert_eq!(next.seq, 2, "repeats took no seq");
    assert_eq!(next.client_msg_id, None);
    stores.close().await;
}

pub async fn concurrent_repeats_store_one_message<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    const REPEATS: usize = 24;
    let stores = open().await;
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..REPEATS {
        let log = stores.messages.clone();
        // Other messages interleave, so repeats land in several batches.
        let other = chat("u1-2", 2, &format!("other {number}"));
        tasks.spawn(async move {
            let repeat = log.append(chat_with_id("u1-2", 1, "once", "race")).await;
            log.append(other).await.expect("other append");
            repeat
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.expect("task").expect("append"));
    }
    let new: Vec<_> = answers.iter().filter(|answer| !answer.duplicate).collect();
    assert_eq!(new.len(), 1, "exactly one repeat is stored");
    assert!(
        answers
            .iter()
            .all(|answer| answer.message == new[0].message),
        "every repeat answers with the stored message"
    );
    let stored = stores
        .messages
        .after("u1-2", 0, 100)
        .await
        .expect("history");
    assert_eq!(stored.len(), REPEATS + 1);
    assert_eq!(seqs(&stored), (1..=REPEATS as i64 + 1).collect::<Vec<_>>());
    let with_id: Vec<_> = stored
        .iter()
        .filter(|message| message.client_msg_id.as_deref() == Some("race"))
        .collect();
    assert_eq!(with_id, [&new[0].message]);
    stores.close().await;
}

pub async fn dedupe_survives_reopen<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let first = append(&*stores.messages, chat_with_id("g4", 3, "hi", "keep")).await;
    stores.close().await;

    let stores = open().await;
    let repeat = append(&*stores.messages, chat_with_id("g4", 3, "hi", "keep")).await;
    assert!(repeat.duplicate, "a repeat after reopening was stored");
    assert_eq!(repeat.message, first.message);
    assert_eq!(stores.messages.last_seq("g4").await.expect("last"), 1);
    stores.close().await;
}

pub async fn purge_dedupe_ends_the_window<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let old = append_new(log, with_id(chat_at("u1-2", 1, "old", 1_000), "old-id")).await;
    let recent = append_new(log, with_id(chat_at("u1-2", 1, "new", 5_000), "new-id")).await;
    assert_eq!(log.purge_dedupe(2_000).await.expect("purge"), 1);
    assert_eq!(log.purge_dedupe(2_000).await.expect("again"), 0);

    let again = append(log, with_id(chat_at("u1-2", 1, "old", 6_000), "old-id")).await;
    assert!(!again.duplicate, "an id past the window is new again");
    assert_eq!(again.message.seq, 3);
    assert_ne!(again.message.message_id, old.message_id);
    let repeat = append(log, with_id(chat_at("u1-2", 1, "new", 6_000), "new-id")).await;
    assert!(
        repeat.duplicate,
        "an id inside the window is still a repeat"
    );
    assert_eq!(repeat.message, recent);
    assert_eq!(
        log.get("u1-2", old.seq).await.expect("get"),
        Some(old),
        "ending the window keeps the message"
    );
    stores.close().await;
}

pub async fn client_msg_ids_belong_to_their_sender<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let from_one = append_new(log, chat_with_id("g1", 1, "a", "same")).await;
    let from_two = append_new(log, chat_with_id("g1", 2, "b", "same")).await;
    assert_eq!((from_one.seq, from_two.seq), (1, 2));
    // The id names one SEND of its sender, whatever the destination.
    let elsewhere = append(log, chat_with_id("g2", 1, "c", "same")).await;
    assert!(elsewhere.duplicate);
    assert_eq!(elsewhere.message, from_one);
    assert_eq!(log.last_seq("g2").await.expect("last"), 0);
    // Ids are compared exactly.
    for other in ["Same", "same ", "sam"] {
        let stored = append(log, chat_with_id("g1", 1, "d", other)).await;
        assert!(!stored.duplicate, "{other:?} is another id");
    }
    stores.close().await;
}

fn with_id(message: NewMessage, client_msg_id: &str) -> NewMessage {
    NewMessage {
        client_msg_id: Some(client_msg_id.to_owned()),
        ..message
    }
}
