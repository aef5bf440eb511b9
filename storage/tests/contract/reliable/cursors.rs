//! Devices, delivered and read cursors, read and mention counts, and
//! messages hidden for one user.

use std::future::Future;

use herald_storage::{NewMessage, Stores};

use super::{append_new, chat};
use crate::contract::chat::expect_not_found;

fn pairs(items: &[(&str, i64)]) -> Vec<(String, i64)> {
    items
        .iter()
        .map(|&(name, seq)| (name.to_owned(), seq))
        .collect()
}

pub async fn devices_are_new_once<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let cursors = &*stores.cursors;
    assert!(cursors.register_device(1, "phone").await.expect("first"));
    assert!(!cursors.register_device(1, "phone").await.expect("again"));
    assert!(cursors.register_device(1, "laptop").await.expect("another"));
    assert!(cursors
        .register_device(2, "phone")
        .await
        .expect("another user's"));
    assert!(cursors
        .register_device(1, "Phone")
        .await
        .expect("ids are exact"));
    stores.close().await;
}

pub async fn delivered_cursors_only_move_forward<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let cursors = &*stores.cursors;
    assert!(cursors
        .delivered(1, "phone")
        .await
        .expect("none")
        .is_empty());
    assert_eq!(cursors.delivered_by_user(1, "u1-2").await.expect("none"), 0);
    for (conversation, seq) in [("u1-2", 3), ("u1-2", 7), ("u1-2", 5), ("g4", 2), ("g4", 0)] {
        cursors
            .advance_delivered(1, "phone", conversation, seq)
            .await
            .expect("advance");
    }
    cursors
        .advance_delivered(1, "laptop", "u1-2", 9)
        .await
        .expect("advance");
    cursors
        .advance_delivered(2, "phone", "u1-2", 11)
        .await
        .expect("advance");
    cursors
        .advance_delivered(1, "tablet", "g4", -3)
        .await
        .expect("nothing");
    assert_eq!(
        cursors.delivered(1, "phone").await.expect("phone"),
        pairs(&[("g4", 2), ("u1-2", 7)])
    );
    assert_eq!(
        cursors.delivered(1, "laptop").await.expect("laptop"),
        pairs(&[("u1-2", 9)])
    );
    assert!(cursors
        .delivered(1, "tablet")
        .await
        .expect("tablet")
        .is_empty());
    assert_eq!(cursors.delivered_by_user(1, "u1-2").await.expect("max"), 9);
    assert_eq!(cursors.delivered_by_user(1, "g4").await.expect("max"), 2);
    assert_eq!(cursors.delivered_by_user(2, "u1-2").await.expect("max"), 11);
    assert_eq!(cursors.delivered_by_user(3, "u1-2").await.expect("none"), 0);
    stores.close().await;
}

pub async fn read_cursors_only_move_forward<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let cursors = &*stores.cursors;
    assert_eq!(cursors.read(1, "u1-2").await.expect("none"), 0);
    assert!(!cursors.advance_read(1, "u1-2", 0).await.expect("zero"));
    assert!(cursors.advance_read(1, "u1-2", 4).await.expect("forward"));
    assert!(!cursors.advance_read(1, "u1-2", 4).await.expect("same"));
    assert!(!cursors.advance_read(1, "u1-2", 2).await.expect("back"));
    assert!(cursors.advance_read(1, "u1-2", 6).await.expect("forward"));
    assert!(cursors.advance_read(1, "g3", 1).await.expect("another"));
    assert!(cursors
        .advance_read(2, "u1-2", 1)
        .await
        .expect("another user"));
    assert_eq!(cursors.read(1, "u1-2").await.expect("read"), 6);
    assert_eq!(cursors.read(2, "u1-2").await.expect("read"), 1);
    assert_eq!(
        cursors.read_cursors(1).await.expect("all"),
        pairs(&[("g3", 1), ("u1-2", 6)])
    );
    assert!(cursors.read_cursors(3).await.expect("none").is_empty());
    stores.close().await;
}

pub async fn concurrent_reads_keep_the_highest<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let mut tasks = tokio::task::JoinSet::new();
    // Reads and ACKs arriving in any order, as from several devices.
    for seq in [5, 1, 9, 3, 9, 7, 2, 8, 6, 4] {
        let cursors = stores.cursors.clone();
        tasks.spawn(async move {
            cursors.advance_delivered(1, "phone", "g1", seq).await?;
            cursors.advance_read(1, "g1", seq).await
        });
    }
    let mut moved = 0;
    while let Some(joined) = tasks.join_next().await {
        moved += usize::from(joined.expect("task").expect("advance"));
    }
    assert!((1..=9).contains(&moved), "moved {moved} times");
    assert_eq!(stores.cursors.read(1, "g1").await.expect("read"), 9);
    let delivered = stores
        .cursors
        .delivered(1, "phone")
        .await
        .expect("delivered");
    assert_eq!(delivered, pairs(&[("g1", 9)]));
    stores.close().await;
}

pub async fn read_counts_count_readers_at_or_past<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let cursors = &*stores.cursors;
    for (user, seq) in [(1, 5), (2, 3), (3, 5), (4, 1)] {
        cursors.advance_read(user, "g1", seq).await.expect("read");
    }
    cursors.advance_read(5, "g2", 9).await.expect("elsewhere");
    assert_eq!(
        cursors
            .read_counts("g1", &[5, 1, 3, 4, 6])
            .await
            .expect("counts"),
        [(5, 2), (1, 4), (3, 3), (4, 2), (6, 0)],
        "in the order asked"
    );
    assert!(cursors
        .read_counts("g1", &[])
        .await
        .expect("none")
        .is_empty());
    assert_eq!(
        cursors.read_counts("g9", &[1]).await.expect("nobody"),
        [(1, 0)]
    );
    stores.close().await;
}

pub async fn mention_counts_drop_as_reads_pass<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let mention = |conversation: &str, users: Vec<i64>| NewMessage {
        mentions: users,
        ..chat(conversation, 1, "hey @you")
    };
    append_new(log, mention("g1", vec![2, 3])).await; // g1#1
    append_new(log, chat("g1", 1, "no mention")).await; // g1#2
    append_new(log, mention("g1", vec![2, 2])).await; // g1#3, once
    append_new(log, mention("g2", vec![2])).await; // g2#1
    let counts = stores.cursors.mention_counts(2).await.expect("counts");
    assert_eq!(counts, [("g1".to_owned(), 2), ("g2".to_owned(), 1)]);
    assert_eq!(
        stores.cursors.mention_counts(3).await.expect("counts"),
        [("g1".to_owned(), 1)]
    );
    stores.cursors.advance_read(2, "g1", 2).await.expect("read");
    assert_eq!(
        stores.cursors.mention_counts(2).await.expect("counts"),
        [("g1".to_owned(), 1), ("g2".to_owned(), 1)]
    );
    stores.cursors.advance_read(2, "g1", 3).await.expect("read");
    stores.cursors.advance_read(2, "g2", 1).await.expect("read");
    assert!(stores
        .cursors
        .mention_counts(2)
        .await
        .expect("counts")
        .is_empty());
    assert!(stores
        .cursors
        .mention_counts(9)
        .await
        .expect("nobody")
        .is_empty());
    stores.close().await;
}

pub async fn hidden_messages_belong_to_one_user<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    for _ in 0..6 {
        append_new(&*stores.messages, chat("u1-2", 1, "text")).await;
    }
    let cursors = &*stores.cursors;
    for seq in [4, 2, 6, 2] {
        cursors.hide(1, "u1-2", seq).await.expect("hide");
    }
    assert_eq!(
        cursors.hidden(1, "u1-2", 1, 6).await.expect("all"),
        [2, 4, 6]
    );
    assert_eq!(
        cursors.hidden(1, "u1-2", 2, 4).await.expect("inclusive"),
        [2, 4]
    );
    assert_eq!(
        cursors.hidden(1, "u1-2", 5, 5).await.expect("none"),
        Vec::<i64>::new()
    );
    assert!(cursors
        .hidden(2, "u1-2", 1, 6)
        .await
        .expect("other user")
        .is_empty());
    assert_eq!(
        stores
            .messages
            .after("u1-2", 0, 10)
            .await
            .expect("history")
            .len(),
        6
    );
    expect_not_found(cursors.hide(1, "u1-2", 7).await, "hiding a missing seq");
    expect_not_found(
        cursors.hide(1, "g404", 1).await,
        "hiding in an empty conversation",
    );
    stores.close().await;
}

pub async fn cursors_survive_reopen<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    append_new(
        &*stores.messages,
        NewMessage {
            mentions: vec![2],
            ..chat("g1", 1, "@2")
        },
    )
    .await;
    stores
        .cursors
        .register_device(2, "phone")
        .await
        .expect("device");
    stores
        .cursors
        .advance_delivered(2, "phone", "g1", 1)
        .await
        .expect("delivered");
    stores.cursors.advance_read(3, "g1", 1).await.expect("read");
    stores.cursors.hide(2, "g1", 1).await.expect("hide");
    stores.close().await;

    let stores = open().await;
    let cursors = &*stores.cursors;
    assert!(!cursors.register_device(2, "phone").await.expect("known"));
    assert_eq!(
        cursors.delivered(2, "phone").await.expect("delivered"),
        pairs(&[("g1", 1)])
    );
    assert_eq!(cursors.read(3, "g1").await.expect("read"), 1);
    assert_eq!(cursors.hidden(2, "g1", 0, 9).await.expect("hidden"), [1]);
    assert_eq!(
        cursors.mention_counts(2).await.expect("mentions"),
        [("g1".to_owned(), 1)]
    );
    stores.close().await;
}
