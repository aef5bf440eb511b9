//! The claim side of the `QueueStore` contract: how the nodes of a cluster
//! share one store's queues. A second `open` of the same place stands for a
//! second node (another pool and writer on the same database).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_storage::{QueueStore, StoreError, StoredId};

const LONG: Duration = Duration::from_secs(60);

async fn enqueue_all<S: QueueStore>(store: &S, queue: &str, count: usize) -> Vec<StoredId> {
    let mut ids = Vec::with_capacity(count);
    for number in 0..count {
        let body = Bytes::from(format!("{queue} {number}"));
        ids.push(
            store
                .enqueue(queue, Vec::new(), body)
                .await
                .expect("enqueue"),
        );
    }
    ids
}

fn ids(messages: &[herald_storage::QueuedMessage]) -> Vec<StoredId> {
    messages.iter().map(|message| message.id).collect()
}

pub async fn claims_take_free_messages_oldest_first<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let sent = enqueue_all(&store, "/queue/claims", 5).await;
    let other = enqueue_all(&store, "/queue/elsewhere", 1).await;
    store.lease(sent[0]).await.expect("lease");

    let first = store
        .claim("/queue/claims", 1, 3, LONG)
        .await
        .expect("claim");
    assert_eq!(ids(&first), sent[..3], "the oldest three, in id order");
    assert_eq!(first[0].queue, "/queue/claims");
    assert_eq!(first[0].body, Bytes::from("/queue/claims 0"));
    assert_eq!(first[0].deliveries, 1, "a claim keeps the delivery count");
    assert_eq!(first[1].deliveries, 0);

    let rest = store
        .claim("/queue/claims", 2, 10, LONG)
        .await
        .expect("claim");
    assert_eq!(
        ids(&rest),
        sent[3..],
        "another owner gets only the free ones"
    );
    let none = store
        .claim("/queue/claims", 1, 10, LONG)
        .await
        .expect("claim");
    assert!(none.is_empty(), "everything is held: {none:?}");
    let elsewhere = store
        .claim("/queue/elsewhere", 1, 10, LONG)
        .await
        .expect("claim");
    assert_eq!(ids(&elsewhere), other, "claims stay within their queue");
    assert_eq!(
        store.pending().await.expect("pending").len(),
        6,
        "claimed messages are still pending until acknowledged"
    );
    store.close().await;
}

pub async fn two_nodes_never_claim_the_same_message<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    const MESSAGES: usize = 300;
    let one = Arc::new(open().await);
    let two = Arc::new(open().await);
    let sent: HashSet<StoredId> = enqueue_all(one.as_ref(), "/queue/race", MESSAGES)
        .await
        .into_iter()
        .collect();
    let mut claimers = tokio::task::JoinSet::new();
    for claimer in 0..4u16 {
        let store = if claimer % 2 == 0 {
            Arc::clone(&one)
        } else {
            Arc::clone(&two)
        };
        claimers.spawn(async move {
            let mut taken = Vec::new();
            loop {
                let batch = store
                    .claim("/queue/race", claimer + 1, 7, LONG)
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return taken;
                }
                taken.extend(ids(&batch));
                tokio::task::yield_now().await;
            }
        });
    }
    let mut seen = HashSet::new();
    while let Some(joined) = claimers.join_next().await {
        for id in joined.expect("claimer") {
            assert!(seen.insert(id), "message {id} was claimed twice");
        }
    }
    assert_eq!(seen, sent, "every message was claimed by someone");
    one.close().await;
    two.close().await;
}

pub async fn expired_leases_are_reclaimed<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let short = Duration::from_millis(400);
    let dead = open().await;
    let live = open().await;
    let sent = enqueue_all(&dead, "/queue/expiry", 3).await;
    let held = dead
        .claim("/queue/expiry", 1, 10, short)
        .await
        .expect("claim");
    assert_eq!(ids(&held), sent);
    dead.lease(sent[0]).await.expect("lease");

    // A renewing owner keeps its messages past the first lease.
    for _ in 0..4 {
        tokio::time::sleep(short / 4).await;
        assert_eq!(dead.renew(1, short).await.expect("renew"), 3);
    }
    let early = live
        .claim("/queue/expiry", 2, 10, LONG)
        .await
        .expect("claim");
    assert!(early.is_empty(), "renewed leases are held: {early:?}");

    // It dies (stops renewing): once the lease runs out the others take them.
    dead.close().await;
    tokio::time::sleep(short + short / 2).await;
    let taken = live
        .claim("/queue/expiry", 2, 10, LONG)
        .await
        .expect("claim");
    assert_eq!(ids(&taken), sent, "expired leases are free again");
    assert_eq!(taken[0].deliveries, 1, "the delivery count survives");
    assert_eq!(live.renew(1, LONG).await.expect("renew"), 0, "not its own");
    live.close().await;
}

pub async fn requeue_and_release_free_claims<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    let sent = enqueue_all(&store, "/queue/release", 4).await;
    let held = store
        .claim("/queue/release", 1, 10, LONG)
        .await
        .expect("claim");
    assert_eq!(ids(&held), sent);
    store.requeue(sent[2]).await.expect("requeue");
    let again = store
        .claim("/queue/release", 2, 10, LONG)
        .await
        .expect("claim");
    assert_eq!(ids(&again), [sent[2]], "a requeued message is free");
    store.ack(sent[0]).await.expect("ack");

    assert_eq!(store.release_owner(1).await.expect("release"), 2);
    let rest = store
        .claim("/queue/release", 3, 10, LONG)
        .await
        .expect("claim");
    assert_eq!(
        ids(&rest),
        [sent[1], sent[3]],
        "a released owner's messages"
    );
    assert_eq!(store.release_owner(1).await.expect("release"), 0);
    assert_eq!(store.renew(3, LONG).await.expect("renew"), 2);
    store.close().await;
}

pub async fn closed_store_refuses_claims<S, F, Fut>(open: F)
where
    S: QueueStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    store.close().await;
    let closed = |result: Result<_, StoreError>| matches!(result, Err(StoreError::Closed));
    assert!(
        closed(store.claim("/queue/closed", 1, 1, LONG).await.map(|_| ())),
        "claim after close"
    );
    assert!(
        closed(store.renew(1, LONG).await.map(|_| ())),
        "renew after close"
    );
    assert!(
        closed(store.release_owner(1).await.map(|_| ())),
        "release after close"
    );
}
