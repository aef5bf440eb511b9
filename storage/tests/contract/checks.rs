//! The contract's checks, one per promise of `QueueStore`. Each takes
//! `open`, which opens the backend at the test's place (again, when called
//! again), and panics with a message saying which promise broke.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use herald_storage::{QueueStore, QueuedMessage, StoreError, StoredId};

/// A frame's headers, in order, as the store keeps them.
type Headers = Vec<(String, String)>;

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

async fn enqueue_text<S: QueueStore>(store: &S, queue: &str, text: &str) -> StoredId {
    store
        .enqueue(queue, Vec::new(), Bytes::copy_from_slice(text.as_bytes()))
        .await
        .expect("enqueue")
}

async fn find<S: QueueStore>(store: &S, id: StoredId) -> Option<QueuedMessage> {
    let pending = store.pending().await.expect("pending");
    pending.into_iter().find(|message| message.id == id)
}

fn is_closed<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Closed))
}

pub async fn enqueue_returns_increasing_ids<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let mut previous = None;
    for number in 0..20 {
        let id = enqueue_text(&store, "/queue/ids", &number.to_string()).await;
        if let Some(previous) = previous {
            assert!(id > previous, "id {id} after {previous}");
        }
        previous = Some(id);
    }
    store.close().await;
}

pub async fn pending_keeps_order_headers_and_bodies<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let cases: Vec<(&str, Headers, Bytes)> = vec![
        (
            "/queue/a",
            headers(&[("content-type", "text/plain"), ("x", "1"), ("x", "2")]),
            Bytes::from_static(b"hello"),
        ),
        ("/queue/b", Vec::new(), Bytes::new()),
        (
            "/queue/a",
            headers(&[("odd", "a:b\nc\\d\r\0"), ("", ""), ("ünï", "中文 🙂")]),
            Bytes::from_static(b"\0\0nul\0inside\0"),
        ),
        (
            "/queue/ünïcode",
            headers(&[("message-id", "m-1")]),
            Bytes::from_static(&[0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
        ),
        (
            "/queue/big",
            Vec::new(),
            Bytes::from((0..=255u8).cycle().take(300_000).collect::<Vec<u8>>()),
        ),
    ];
    let mut expected = Vec::new();
    for (queue, headers, body) in cases {
        let id = store
            .enqueue(queue, headers.clone(), body.clone())
            .await
            .expect("enqueue");
        expected.push(QueuedMessage {
            id,
            queue: queue.to_owned(),
            headers,
            body,
            deliveries: 0,
        });
    }
    assert_eq!(store.pending().await.expect("pending"), expected);
    store.close().await;
}

pub async fn lease_counts_deliveries<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let id = enqueue_text(&store, "/queue/lease", "one").await;
    let other = enqueue_text(&store, "/queue/lease", "two").await;
    store.lease(id).await.expect("lease");
    assert_eq!(find(&store, id).await.expect("still pending").deliveries, 1);
    store.lease(id).await.expect("lease again");
    assert_eq!(find(&store, id).await.expect("still pending").deliveries, 2);
    assert_eq!(find(&store, other).await.expect("other").deliveries, 0);
    store.close().await;
}

pub async fn requeue_keeps_message_and_count<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let id = enqueue_text(&store, "/queue/requeue", "back").await;
    store.lease(id).await.expect("lease");
    store.requeue(id).await.expect("requeue");
    let message = find(&store, id).await.expect("requeued message is kept");
    assert_eq!(message.deliveries, 1);
    assert_eq!(message.body, Bytes::from_static(b"back"));
    store.lease(id).await.expect("lease after requeue");
    assert_eq!(find(&store, id).await.expect("kept").deliveries, 2);
    store.close().await;
}

pub async fn ack_removes_only_that_message<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let first = enqueue_text(&store, "/queue/ack", "1").await;
    let second = enqueue_text(&store, "/queue/ack", "2").await;
    let third = enqueue_text(&store, "/queue/ack", "3").await;
    store.lease(second).await.expect("lease");
    store.ack(second).await.expect("ack");
    let ids: Vec<StoredId> = store
        .pending()
        .await
        .expect("pending")
        .iter()
        .map(|message| message.id)
        .collect();
    assert_eq!(ids, vec![first, third]);
    store.close().await;
}

pub async fn unknown_ids_are_not_errors<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let id = enqueue_text(&store, "/queue/unknown", "x").await;
    store.ack(id).await.expect("ack");
    store.ack(id).await.expect("a repeated ack is not an error");
    store.ack(id + 1_000).await.expect("ack of an unknown id");
    store.lease(id).await.expect("lease of an acknowledged id");
    store
        .requeue(id + 1_000)
        .await
        .expect("requeue of an unknown id");
    assert!(store.pending().await.expect("pending").is_empty());
    store.close().await;
}

pub async fn concurrent_enqueues_are_all_stored<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    const TASKS: usize = 50;
    const EACH: usize = 40;
    let store = Arc::new(open().await);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let mut ids = Vec::with_capacity(EACH);
            for number in 0..EACH {
                let body = Bytes::from(format!("{task}/{number}"));
                let id = store.enqueue("/queue/load", Vec::new(), body).await;
                ids.push((id.expect("enqueue"), format!("{task}/{number}")));
            }
            ids
        });
    }
    let mut sent = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let ids = joined.expect("task");
        // One task's enqueues happen one after another: their ids increase.
        assert!(ids.windows(2).all(|pair| pair[0].0 < pair[1].0));
        sent.extend(ids);
    }
    let unique: HashSet<StoredId> = sent.iter().map(|(id, _)| *id).collect();
    assert_eq!(unique.len(), TASKS * EACH, "ids are not unique");

    let pending = store.pending().await.expect("pending");
    assert_eq!(pending.len(), TASKS * EACH);
    sent.sort();
    for (message, (id, body)) in pending.iter().zip(&sent) {
        assert_eq!(message.id, *id);
        assert_eq!(message.body, body.as_bytes());
    }
    store.close().await;
}

pub async fn closed_store_refuses_everything<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let id = enqueue_text(&store, "/queue/closed", "kept").await;
    store.close().await;
    store.close().await; // idempotent
    let enqueued = store
        .enqueue("/queue/closed", Vec::new(), Bytes::new())
        .await;
    assert!(is_closed(enqueued), "enqueue after close");
    assert!(is_closed(store.lease(id).await), "lease after close");
    assert!(is_closed(store.requeue(id).await), "requeue after close");
    assert!(is_closed(store.ack(id).await), "ack after close");
    assert!(is_closed(store.pending().await), "pending after close");
    store.close().await;
}

pub async fn close_finishes_accepted_writes<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = Arc::new(open().await);
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..300u32 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let body = Bytes::from(number.to_string());
            store.enqueue("/queue/drain", Vec::new(), body).await
        });
    }
    tokio::task::yield_now().await;
    store.close().await;
    let mut accepted = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(id) => accepted.push(id),
            Err(StoreError::Closed) => {}
            Err(error) => panic!("enqueue racing close failed with {error}"),
        }
    }
    drop(store);

    let reopened = open().await;
    let stored: HashSet<StoredId> = reopened
        .pending()
        .await
        .expect("pending")
        .iter()
        .map(|message| message.id)
        .collect();
    for id in &accepted {
        assert!(stored.contains(id), "accepted id {id} lost by close");
    }
    reopened.close().await;
}

pub async fn data_survives_reopen<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let leased = store
        .enqueue(
            "/queue/durable",
            headers(&[("k", "v")]),
            Bytes::from_static(b"\0a"),
        )
        .await
        .expect("enqueue");
    let acked = enqueue_text(&store, "/queue/durable", "gone").await;
    store.lease(leased).await.expect("lease");
    store.ack(acked).await.expect("ack");
    store.close().await;
    drop(store);

    let store = open().await;
    let before = store.pending().await.expect("pending after close");
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].id, leased);
    assert_eq!(before[0].headers, headers(&[("k", "v")]));
    assert_eq!(before[0].body, Bytes::from_static(b"\0a"));
    assert_eq!(before[0].deliveries, 1, "the lease survives a restart");
    let late = enqueue_text(&store, "/queue/durable", "late").await;
    drop(store); // no close: what was answered is stored all the same

    let store = open().await;
    let ids: Vec<StoredId> = store
        .pending()
        .await
        .expect("pending after drop")
        .iter()
        .map(|message| message.id)
        .collect();
    assert_eq!(ids, vec![leased, late]);
    store.close().await;
}

pub async fn ids_are_never_reused<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let mut newest = 0;
    for text in ["a", "b", "c"] {
        newest = enqueue_text(&store, "/queue/reuse", text).await;
        store.ack(newest).await.expect("ack");
    }
    store.close().await;
    drop(store);

    let store = open().await;
    let id = enqueue_text(&store, "/queue/reuse", "d").await;
    assert!(
        id > newest,
        "id {id} reuses an acknowledged id (newest was {newest})"
    );
    store.close().await;
}
