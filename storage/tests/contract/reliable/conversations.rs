//! The conversation index: a user's private and system conversations, and
//! the heads of named ones, newest activity first.

use std::future::Future;

use herald_storage::{ConversationHead, NewMessage, Stores};

use super::{append_new, chat_at};

fn names(heads: &[ConversationHead]) -> Vec<&str> {
    heads
        .iter()
        .map(|head| head.conversation.as_str())
        .collect()
}

pub async fn conversation_index_lists_private_and_system_newest_first<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    assert!(log.conversations(1).await.expect("empty").is_empty());
    append_new(log, chat_at("u1-2", 1, "a", 1_000)).await;
    append_new(log, chat_at("u1-2", 2, "b", 1_100)).await;
    let event = NewMessage {
        kind: "friend-request".into(),
        ..chat_at("s1", 0, "event", 2_000)
    };
    let event = append_new(log, event).await;
    let third = append_new(log, chat_at("u1-3", 3, "c", 3_000)).await;
    append_new(log, chat_at("g5", 1, "group", 4_000)).await;
    // A message listing nobody updates no one's index.
    let unlisted = NewMessage {
        participants: Vec::new(),
        ..chat_at("u1-4", 1, "d", 5_000)
    };
    append_new(log, unlisted).await;

    let heads = log.conversations(1).await.expect("index");
    assert_eq!(
        names(&heads),
        ["u1-3", "s1", "u1-2"],
        "groups are not indexed"
    );
    assert_eq!(heads[0].last_seq, 1);
    assert_eq!(heads[0].last_message.as_ref(), Some(&third));
    assert_eq!(heads[0].updated_at, 3_000);
    assert_eq!(heads[1].last_message.as_ref(), Some(&event));
    assert_eq!((heads[2].last_seq, heads[2].updated_at), (2, 1_100));
    let last = heads[2].last_message.as_ref().expect("last message");
    assert_eq!((last.seq, last.sender), (2, 2));

    let newest = append_new(log, chat_at("u1-2", 2, "e", 6_000)).await;
    let heads = log.conversations(1).await.expect("index");
    assert_eq!(
        names(&heads),
        ["u1-2", "u1-3", "s1"],
        "new activity moves it up"
    );
    assert_eq!(heads[0].last_message.as_ref(), Some(&newest));
    assert_eq!(heads[0].last_seq, 3);
    assert_eq!(names(&log.conversations(2).await.expect("index")), ["u1-2"]);
    assert_eq!(names(&log.conversations(3).await.expect("index")), ["u1-3"]);
    assert!(log.conversations(4).await.expect("index").is_empty());
    assert!(log.conversations(0).await.expect("sender only").is_empty());

    // A late-stamped message (another node's clock) counts as activity
    // but never moves the time back.
    append_new(log, chat_at("u1-2", 1, "late", 10)).await;
    let heads = log.conversations(1).await.expect("index");
    assert_eq!(heads[0].conversation, "u1-2");
    assert_eq!((heads[0].last_seq, heads[0].updated_at), (4, 6_000));
    stores.close().await;
}

pub async fn heads_give_the_named_conversations<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    append_new(log, chat_at("g1", 1, "one", 1_000)).await;
    let two = append_new(log, chat_at("g2", 1, "two", 2_000)).await;
    let again = append_new(log, chat_at("g1", 2, "again", 3_000)).await;
    let asked: Vec<String> = ["g2", "g404", "g1", "g1"]
        .iter()
        .map(|&name| name.to_owned())
        .collect();
    let heads = log.heads(&asked).await.expect("heads");
    assert_eq!(
        heads,
        [
            ConversationHead {
                conversation: "g1".into(),
                last_seq: 2,
                last_message: Some(again),
                updated_at: 3_000,
            },
            ConversationHead {
                conversation: "g2".into(),
                last_seq: 1,
                last_message: Some(two),
                updated_at: 2_000,
            },
        ],
        "newest first, once each, unknown ones left out"
    );
    assert!(log.heads(&[]).await.expect("none").is_empty());
    stores.close().await;
}
