//! The store contracts, run against PostgreSQL: a fresh database per test
//! on the server `HERALD_TEST_POSTGRES_URL` names, or on a cluster this
//! test binary starts (and stops) itself with `scripts/postgres.sh`.

#[macro_use]
mod contract;
#[path = "support/postgres.rs"]
mod support;

use herald_storage::{PgQueueStore, Stores};
use support::PgPlace;

async fn open_postgres(place: &PgPlace) -> PgQueueStore {
    PgQueueStore::connect(place.url().await)
        .await
        .expect("connect the PostgreSQL queue store")
}

async fn open_postgres_stores(place: &PgPlace) -> Stores {
    Stores::postgres(place.url().await)
        .await
        .expect("connect the PostgreSQL stores")
}

queue_store_contract!(postgres, place: PgPlace::new(), open: open_postgres);

chat_store_contract!(
    postgres_chat,
    place: PgPlace::new(),
    open: open_postgres_stores,
);

reliable_store_contract!(
    postgres_reliable,
    place: PgPlace::new(),
    open: open_postgres_stores,
);

/// What is particular to PostgreSQL: several nodes on one database, group
/// commit, and text it cannot keep.
mod postgres_only {
    use std::collections::{HashMap, HashSet};

    use bytes::Bytes;
    use herald_storage::{
        Appended, Directory, MessageLog, NewMessage, NewUser, PgDatabase, StoreError,
    };

    use super::PgPlace;

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

    /// Two databases handles are two pools and two writers, as two broker
    /// processes would have. Each appends to both conversations, so their
    /// batches contend for the same conversation rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_appending_to_one_conversation_leave_no_gap() {
        let place = PgPlace::new();
        let url = place.url().await;
        let nodes = [
            PgDatabase::connect(url).await.expect("first node"),
            PgDatabase::connect(url).await.expect("second node"),
        ];
        let mut tasks = tokio::task::JoinSet::new();
        for number in 0..400i64 {
            let log = nodes[usize::from(number % 2 == 1)].message_log();
            let conversation = if number % 3 == 0 { "g2" } else { "g1" };
            tasks.spawn(async move {
                log.append(message(conversation, number))
                    .await
                    .map(|appended| appended.message)
            });
        }
        let mut seen: [HashSet<i64>; 2] = [HashSet::new(), HashSet::new()];
        while let Some(joined) = tasks.join_next().await {
            let stored = joined.expect("task").expect("append");
            let index = usize::from(stored.conversation == "g2");
            assert!(seen[index].insert(stored.seq), "seq {} twice", stored.seq);
        }
        for (index, conversation) in ["g1", "g2"].into_iter().enumerate() {
            let count = i64::try_from(seen[index].len()).expect("count");
            assert_eq!(seen[index], (1..=count).collect(), "{conversation}");
            let last = nodes[1].message_log().last_seq(conversation).await;
            assert_eq!(last.expect("last seq"), count);
        }
        for node in &nodes {
            node.close().await;
        }
    }

    /// Repeats of one SEND reaching two nodes at once (a client retrying
    /// through another node): each client-msg-id is stored once, and every
    /// repeat, on either node, answers with that message.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_repeating_client_msg_ids_store_each_once() {
        const IDS: i64 = 12;
        const REPEATS: i64 = 6;
        let place = PgPlace::new();
        let url = place.url().await;
        let nodes = [
            PgDatabase::connect(url).await.expect("first node"),
            PgDatabase::connect(url).await.expect("second node"),
        ];
        let mut answers: HashMap<String, Vec<Appended>> = HashMap::new();
        // Round by round, so that both nodes' batches hold repeats of the
        // same ids at once (and one must find the other's at its insert).
        for round in 0..REPEATS {
            let mut tasks = tokio::task::JoinSet::new();
            for number in 0..IDS * 2 {
                let log = nodes[usize::from(number % 2 == 1)].message_log();
                let client_msg_id = format!("c-{}", number / 2);
                let mut repeat = message("u1-2", 10_000 + round * 1_000 + number);
                repeat.client_msg_id = Some(client_msg_id.clone());
                tasks.spawn(async move { (client_msg_id, log.append(repeat).await) });
            }
            while let Some(joined) = tasks.join_next().await {
                let (client_msg_id, appended) = joined.expect("task");
                let appended = appended.expect("append");
                answers.entry(client_msg_id).or_default().push(appended);
            }
        }
        for (client_msg_id, answers) in &answers {
            let new = answers.iter().filter(|answer| !answer.duplicate).count();
            assert_eq!(new, 1, "{client_msg_id} stored {new} times");
            let first = &answers[0].message;
            assert!(
                answers.iter().all(|answer| &answer.message == first),
                "{client_msg_id}: repeats answered differently"
            );
        }
        let stored = nodes[0].message_log().after("u1-2", 0, 1_000).await;
        let stored = stored.expect("history");
        assert_eq!(stored.len(), usize::try_from(IDS).expect("count"));
        let seqs: Vec<i64> = stored.iter().map(|message| message.seq).collect();
        assert_eq!(
            seqs,
            (1..=IDS).collect::<Vec<_>>(),
            "no seq lost to a repeat"
        );
        for node in &nodes {
            node.close().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_commits() {
        let place = PgPlace::new();
        let database = PgDatabase::connect(place.url().await)
            .await
            .expect("connect");
        let before = database.commits();
        let mut tasks = tokio::task::JoinSet::new();
        for number in 0..500i64 {
            let log = database.message_log();
            let conversation = format!("u{}-9", number % 5);
            tasks.spawn(async move {
                log.append(message(&conversation, number))
                    .await
                    .map(|appended| appended.message)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.expect("task").expect("append");
        }
        let commits = database.commits() - before;
        assert!(
            commits < 100,
            "500 concurrent appends took {commits} commits: they are not grouped"
        );
        database.close().await;
    }

    /// PostgreSQL text cannot hold NUL: such a value is refused as data the
    /// backend cannot keep, and nothing is half-written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nul_in_text_is_rejected() {
        let place = PgPlace::new();
        let database = PgDatabase::connect(place.url().await)
            .await
            .expect("connect");
        let directory = database.directory();
        let result = directory
            .create_user(NewUser {
                username: "nul\0name".into(),
                password_hash: "h".into(),
                nickname: "n".into(),
            })
            .await;
        assert!(matches!(result, Err(StoreError::Rejected(_))), "{result:?}");
        assert!(directory
            .search_users("", 10)
            .await
            .expect("search")
            .is_empty());
        let mut bad = message("g1", 1);
        bad.kind = "a\0b".into();
        let result = database
            .message_log()
            .append(bad)
            .await
            .map(|appended| appended.message);
        assert!(matches!(result, Err(StoreError::Rejected(_))), "{result:?}");
        let stored = database
            .message_log()
            .append(message("g1", 2))
            .await
            .map(|appended| appended.message);
        assert_eq!(
            stored.expect("append").seq,
            1,
            "the refused append took no seq"
        );
        database.close().await;
    }
}
