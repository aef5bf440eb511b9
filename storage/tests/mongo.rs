//! The store contracts, run with messages, cursors and dead letters in
//! MongoDB (the directory, queue and files stay in SQLite, as
//! `Stores::with_mongo` wires them): a fresh database per test on the
//! server `HERALD_TEST_MONGO_URL` names, or on a MongoDB-wire server this
//! test binary starts (and stops) itself with `scripts/mongo.sh`.

// The queue contract's checks are not run here: the queue stays in SQL.
#[allow(dead_code, unused_imports, unused_macros)]
#[macro_use]
mod contract;
#[path = "support/mongo.rs"]
mod support;

use herald_storage::Stores;
use support::MongoPlace;

async fn open_mongo_stores(place: &MongoPlace) -> Stores {
    let sql = Stores::sqlite(place.sql_dir())
        .await
        .expect("open the SQLite stores");
    Stores::with_mongo(sql, &place.url())
        .await
        .expect("connect the MongoDB stores")
}

chat_store_contract!(mongo_chat, place: MongoPlace::new(), open: open_mongo_stores);

reliable_store_contract!(
    mongo_reliable,
    place: MongoPlace::new(),
    open: open_mongo_stores,
);

/// What is particular to MongoDB: several nodes taking seqs and dedupe
/// keys without transactions, and the states a crash between an append's
/// writes leaves behind.
mod mongo_only {
    use std::collections::HashSet;

    use bytes::Bytes;
    use herald_storage::{DeadLetter, DeadLetters, MongoDatabase, NewMessage, Stores};
    use mongodb::bson::{doc, Bson};

    use super::{open_mongo_stores, support, MongoPlace};

    fn message(conversation: &str, message_id: i64) -> NewMessage {
        NewMessage {
            conversation: conversation.to_owned(),
            message_id,
            sender: 1,
            kind: "message".into(),
            headers: Vec::new(),
            body: Bytes::from_static(b"{}"),
            created_at: message_id,
            client_msg_id: None,
            participants: Vec::new(),
            mentions: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Two nodes: two connections, as two broker processes would have.
    async fn two_nodes(place: &MongoPlace) -> [Stores; 2] {
        [
            open_mongo_stores(place).await,
            open_mongo_stores(place).await,
        ]
    }

    /// The test's database through the driver itself, to set up what a
    /// crash would have left.
    async fn raw(place: &MongoPlace) -> mongodb::Database {
        let client = mongodb::Client::with_uri_str(support::server_url())
            .await
            .expect("connect");
        client.database(place.name())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_appending_to_one_conversation_leave_no_gap() {
        let place = MongoPlace::new();
        let nodes = two_nodes(&place).await;
        let mut tasks = tokio::task::JoinSet::new();
        for number in 0..120i64 {
            let log = nodes[usize::from(number % 2 == 1)].messages.clone();
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
            let last = nodes[1].messages.last_seq(conversation).await;
            assert_eq!(last.expect("last seq"), count);
        }
        for node in &nodes {
            node.close().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repeats_on_two_nodes_store_one_message() {
        let place = MongoPlace::new();
        let nodes = two_nodes(&place).await;
        let mut tasks = tokio::task::JoinSet::new();
        for number in 0..20i64 {
            let log = nodes[usize::from(number % 2 == 1)].messages.clone();
            let mut repeat = message("u1-2", 500 + number);
            repeat.client_msg_id = Some("once".into());
            tasks.spawn(async move { log.append(repeat).await });
        }
        let mut first = HashSet::new();
        let mut duplicates = 0;
        while let Some(joined) = tasks.join_next().await {
            let appended = joined.expect("task").expect("append");
            duplicates += usize::from(appended.duplicate);
            first.insert(appended.message.message_id);
        }
        assert_eq!(first.len(), 1, "every answer names one message");
        assert_eq!(duplicates, 19);
        let stored = nodes[0].messages.after("u1-2", 0, 100).await.expect("read");
        assert_eq!(stored.len(), 1);
        for node in &nodes {
            node.close().await;
        }
    }

    /// A crash after the message insert and before its conversation's
    /// summary rose: reads see the message, the next append goes on above
    /// it and repairs the summary.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_summary_left_behind_its_messages_is_made_up_for() {
        let place = MongoPlace::new();
        let stores = open_mongo_stores(&place).await;
        let log = &*stores.messages;
        for number in 1..=3 {
            let mut sent = message("u1-2", number);
            sent.participants = vec![1, 2];
            log.append(sent).await.expect("append");
        }
        let summaries = raw(&place)
            .await
            .collection::<mongodb::bson::Document>("conversations");
        let behind = doc! { "$set": { "last_seq": 1_i64, "updated_at": 1_i64 } };
        summaries
            .update_one(doc! { "_id": "u1-2" }, behind)
            .await
            .expect("set the summary back");
        assert_eq!(log.last_seq("u1-2").await.expect("last seq"), 3);
        let heads = log.conversations(2).await.expect("conversations");
        assert_eq!(heads.len(), 1);
        assert_eq!((heads[0].last_seq, heads[0].updated_at), (3, 3));
        let newest = heads[0].last_message.as_ref().map(|newest| newest.seq);
        assert_eq!(newest, Some(3));
        let next = log.append(message("u1-2", 4)).await.expect("append");
        assert_eq!(next.message.seq, 4);
        let summary = summaries
            .find_one(doc! { "_id": "u1-2" })
            .await
            .expect("read")
            .expect("summary");
        // The test server hands small 64-bit integers back as 32-bit ones.
        let last_seq = match summary.get("last_seq") {
            Some(Bson::Int64(seq)) => Some(*seq),
            Some(Bson::Int32(seq)) => Some(i64::from(*seq)),
            _ => None,
        };
        assert_eq!(last_seq, Some(4), "{summary:?}");
        stores.close().await;
    }

    /// A crash after the participants were recorded and before the message
    /// was inserted: no list shows a conversation without messages.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn participants_without_a_message_list_nothing() {
        let place = MongoPlace::new();
        let stores = open_mongo_stores(&place).await;
        let summaries = raw(&place)
            .await
            .collection::<mongodb::bson::Document>("conversations");
        summaries
            .insert_one(doc! { "_id": "u8-9", "participants": [8_i64, 9_i64] })
            .await
            .expect("insert");
        assert!(stores
            .messages
            .conversations(8)
            .await
            .expect("list")
            .is_empty());
        let names = ["u8-9".to_owned()];
        assert!(stores
            .messages
            .heads(&names)
            .await
            .expect("heads")
            .is_empty());
        assert_eq!(stores.messages.last_seq("u8-9").await.expect("last"), 0);
        stores.close().await;
    }

    /// Connecting to a database that has its indexes keeps them, and the
    /// data.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connecting_again_keeps_indexes_and_data() {
        let place = MongoPlace::new();
        let first = MongoDatabase::connect(support::server_url(), place.name())
            .await
            .expect("connect");
        let letter = DeadLetter {
            user: 1,
            device: "phone".into(),
            conversation: "g1".into(),
            seq: 1,
            message_id: 1,
            attempts: 3,
            reason: "nack".into(),
            at: 0,
        };
        let id = first.dead_letters().dead_letter(letter.clone()).await;
        assert_eq!(id.expect("dead letter"), 1);
        let second = MongoDatabase::connect(support::server_url(), place.name())
            .await
            .expect("connect again");
        let found = second.dead_letters().dead_letters(10, 0).await;
        assert_eq!(found.expect("read"), [(1, letter)]);
        first.close().await;
        second.close().await;
    }
}
